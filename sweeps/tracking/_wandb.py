"""Every use of W&B beyond its documented API, in one place, pinned to the wandb it was read from.

A user's program reports its metric through its own W&B run, which we read as it is written.
W&B's own reader is `wandb leet inspect --follow --json RUN_FILE`: it prints each record of a
run's transaction log as one JSON line, as the run writes it. The `wandb` command starts it
through a second of Python imports, once per trial; here the wandb-core binary it launches is
run directly, with the same arguments. tests/test_wandb_private.py pins WRITTEN_FOR and reads
a real offline run through this function, so a new wandb that changes either fails there.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

WRITTEN_FOR = "0.31"   # the wandb release (major.minor) this was read from


def follow_records(run_file: Path) -> subprocess.Popen:
    """W&B's reader on a run's `.wandb` file: one JSON record a line on stdout, as written,
    until the run ends (or the process is stopped)."""
    from wandb.util import get_core_path

    run_file = Path(run_file).resolve()   # the binary takes the run file and its wandb folder
    command = [get_core_path(), "leet", "inspect", "--no-observability", "--json", "--follow",
               "--run-file", str(run_file), str(run_file.parent.parent)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, bufsize=1)
