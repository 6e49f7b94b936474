"""What a test needs from the machine, and the one policy for when it is missing: on CI (CI set)
its absence fails the run, elsewhere the test skips and says why, so a green CI means every
test ran. `.ci/run` installs and starts everything named here.
"""
from __future__ import annotations

import os

import pytest

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB = "mysql://root@127.0.0.1:3306/test"
REDIS = "redis://127.0.0.1:6379/0"
SERVERS = {POSTGRES: "PostgreSQL", MARIADB: "MariaDB", REDIS: "Redis"}


def on_ci() -> bool:
    return bool(os.environ.get("CI"))


def needs(present: bool, what: str) -> None:
    """Go on when `present`; else fail on CI and skip elsewhere, saying `what` is missing."""
    if present:
        return
    message = f"needs {what}"
    if on_ci():
        pytest.fail(f"{message} (CI is set: .ci/run installs and starts it)")
    pytest.skip(message)


def needs_server(url: str) -> None:
    """The machine's PostgreSQL, MariaDB or Redis at `url`, reachable and with its driver."""
    from torchsweep.sweeps.storage import open_storage

    try:
        open_storage(url, create=True)
    except Exception as error:
        needs(False, f"{SERVERS[url]} at {url} ({str(error).splitlines()[0]})")


def needs_wandb_engine() -> None:
    """W&B's own sweep engine (`pip install 'wandb[sweeps]'`, imported as `sweeps`). Found by
    its distribution: from the checkout, `import sweeps` would find our own folder."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("sweeps")
    except importlib.metadata.PackageNotFoundError:
        needs(False, "W&B's sweep engine: pip install 'wandb[sweeps]'")


def needs_chromium() -> str:
    """The path of a headless Chromium (Debian's `chromium`)."""
    from torchsweep.sweeps.readout.report.png import find_chromium

    path = find_chromium()
    needs(path is not None, "Chromium (apt-get install chromium)")
    return path
