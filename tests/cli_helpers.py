"""Running the real `sweep` Typer app in-process, and as a real process where that matters."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from torchsweep.cli.app import app


def sweep(*args: str, env: dict | None = None):
    """Invoke the CLI in-process; returns Typer's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def sweep_json(*args: str) -> dict:
    result = sweep(*args, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def sweep_process(*args: str, cwd=None, env: dict | None = None, timeout: float = 300):
    """The installed console script in its own process: real exit codes and streams."""
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
