"""Running the real `sweep` Typer app in-process, and as a real process where that matters."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

from typer.testing import CliRunner

from torchsweep.cli.app import app


def sweep(*args: str, env: dict | None = None):
    """Invoke the CLI in-process; returns Typer's Result (exit_code, stdout, stderr).

    Warnings raised meanwhile are added to stderr as a real `sweep` process prints them (under
    Python's default filters): pytest would otherwise catch them out of sight, and a test that
    counts the lines on stderr must count them too."""
    with warnings.catch_warnings(record=True) as raised:
        _python_default_filters()
        # Named as the console script is: a usage error ends "see `sweep run --help`".
        result = CliRunner().invoke(app, [str(a) for a in args], env=env, prog_name="sweep",
                                    catch_exceptions=False)
    printed = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
                      for w in raised).encode()
    result.stderr_bytes += printed
    result.output_bytes += printed
    return result


def _python_default_filters() -> None:
    """The warning filters of a plain `python` process (see the `warnings` docs)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                     ResourceWarning):
        warnings.simplefilter("ignore", category)


def sweep_json(*args: str) -> dict:
    result = sweep(*args, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def sweep_process(*args: str, cwd=None, env: dict | None = None, timeout: float = 300):
    """The installed console script in its own process: real exit codes and streams."""
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line_error(result, code: int, *parts: str) -> str:
    """The error line, after checking it is the only thing on stderr (warnings included) and
    holds every part. `result` is sweep()'s or sweep_process()'s."""
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    everything = result.stdout + result.stderr
    assert exit_code == code, everything
    assert "Traceback" not in everything
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    return lines[0]


def stopped_run(out, *, epochs: int, after: int, monitor: str = "val_acc") -> list[dict]:
    """A run of `epochs` epochs that stopped after `after` of them, as a crash leaves it (the
    setup goes through the trainer; what is tested goes through the CLI). Its metrics lines.
    `monitor` picks best.pt's epoch (`steps` only grows: best.pt stays at epoch 1)."""
    from torchsweep.trainer import TrainConfig
    from torchsweep.trainer.loop import fit

    config = TrainConfig(epochs=epochs, model="mlp", width=8, batch_size=256)
    fit(config, out_dir=out, callbacks=[lambda metrics: metrics["epoch"] >= after],
        monitor=monitor)
    return metrics_lines(out)


TIMING = ("epoch_seconds", "samples_per_second", "wall_seconds")   # differ run to run


def without_timing(rows: list[dict]) -> list[dict]:
    """Metrics or evaluation rows with their timings left out: what a rerun reproduces."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def metrics_lines(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
