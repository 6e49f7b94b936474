"""What a test needs from the machine: on CI (CI set) its absence fails the run, elsewhere the
test skips and says why, so a green CI means every test ran."""
from __future__ import annotations

import os

import pytest


def on_ci() -> bool:
    return bool(os.environ.get("CI"))


def needs(present: bool, what: str) -> None:
    """Go on when `present`; else fail on CI and skip elsewhere, with `what` is missing."""
    if present:
        return
    message = f"needs {what}"
    if on_ci():
        pytest.fail(f"{message} (CI=true: .ci/run installs and starts it)")
    pytest.skip(message)
