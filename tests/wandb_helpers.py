"""W&B as the tests read it: a run folder through W&B's own reader, and a server that is not
there."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def leet_summary(run_dir: Path) -> dict:
    """W&B's own reading of a run (`wandb leet inspect --summary --json`): name, project,
    entity, config, summary, state, tags, exit code."""
    done = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary",
                           "--json", str(run_dir)], capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def wandb_engine(code: str, data: Any) -> Any:
    """What W&B's own sweep engine makes of `data`: `code` reads it as JSON on stdin and prints
    JSON. It runs in a process outside the checkout, where `import sweeps` is W&B's engine
    (inside it, our own folder); needs_wandb_engine() says whether it is installed."""
    with tempfile.TemporaryDirectory() as outside:
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(data), cwd=outside,
                              capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a W&B server that cannot be reached."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
