"""W&B as the tests read it: a run folder through W&B's own reader, and a server that is not
there."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path


def leet_summary(run_dir: Path) -> dict:
    """W&B's own reading of a run (`wandb leet inspect --summary --json`): name, project,
    entity, config, summary, state, tags, exit code."""
    done = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary",
                           "--json", str(run_dir)], capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a W&B server that cannot be reached."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
