"""Every use of W&B beyond its documented API, in one place, guarded by what it does.

A user's program reports its metric through its own W&B run, which we read as it is written.
W&B's own reader is `wandb leet inspect --follow --json RUN_FILE`: it prints each record of a
run's transaction log as one JSON line, as the run writes it. The `wandb` command starts it
through a second of Python imports, once per trial; here the wandb-core binary it launches is
run directly, with the same arguments. No version string is checked: pyproject.toml admits the
wandb releases CI has run, and tests/test_wandb_private.py reads a real offline run through this
function, so a wandb that changes either fails there; at run time a wandb without the binary's
locator is named in one line rather than as a bare ImportError.
"""
from __future__ import annotations

import subprocess
from pathlib import Path


class WandbChanged(RuntimeError):
    """This wandb lacks what the engine reads beyond its documented API."""


def _core_path() -> str:
    """The wandb-core binary that `wandb leet` starts."""
    import wandb

    try:
        from wandb.util import get_core_path
    except ImportError:
        raise WandbChanged(
            f"wandb {wandb.__version__} has no wandb.util.get_core_path, which torchsweep's "
            f"sweeps/tracking/_wandb.py reads: install a wandb that torchsweep's pyproject.toml "
            f"admits") from None
    return get_core_path()


def follow_records(run_file: Path) -> subprocess.Popen:
    """W&B's reader on a run's `.wandb` file: one JSON record a line on stdout, as written,
    until the run ends (or the process is stopped)."""
    run_file = Path(run_file).resolve()   # the binary takes the run file and its wandb folder
    command = [_core_path(), "leet", "inspect", "--no-observability", "--json", "--follow",
               "--run-file", str(run_file), str(run_file.parent.parent)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, bufsize=1)
