"""Helpers for the tests of workers and crash recovery: real processes, real storages."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from needs import POSTGRES, needs_server
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps.storage import open_storage, storage_url

# A study whose trials take a fraction of a second: what is tested here is the orchestration.
TINY_SPACE = ("--param", "lr=log:0.01..0.2", "--set", "epochs=1", "--set", "model=mlp",
              "--set", "width=8", "--sampler", "random", "--pruner", "none")
# Slow enough to be killed between epochs: a small CNN, a few epochs.
SLOW_SPACE = ("--param", "lr=log:0.01..0.1", "--set", "model=cnn", "--set", "width=8",
              "--set", "batch_size=32", "--sampler", "random", "--pruner", "none")
QUIET = ("--wandb", "disabled")
# Trials of a few seconds that leave the CPU to other processes (each forward pass of the slow
# mlp waits 10 ms), with a checkpoint every epoch and one evaluation at its end (the pruner
# hears of an epoch after it is written): for tests that stop trials or their storage midway.
SLOW_STUDY = """\
name: {name}
method: random
pruner: none
metric: {{name: val_acc, goal: maximize}}
parameters:
  lr: {{distribution: log_uniform_values, min: 0.01, max: 0.1}}
  epochs: {{value: {epochs}}}
  model: {{value: "failing_models:slow_mlp"}}
  width: {{value: 8}}
  batch_size: {{value: {batch_size}}}
  threads: {{value: 1}}
  evaluations_per_epoch: {{value: 1}}
"""
COMMAND = (sys.executable, "-c", "from torchsweep.cli.app import app; app()")


def trials(name: str, root: Path, storage: str | None = None) -> list[FrozenTrial]:
    url = storage_url(root, storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(url, create=False))
    return study.get_trials(deepcopy=False)


def in_state(found: list[FrozenTrial], *states: TrialState) -> list[FrozenTrial]:
    return [t for t in found if t.state in states]


TESTS = Path(__file__).resolve().parent


def start(*args) -> subprocess.Popen:
    """`sweep ARGS` as a real process of its own (its own process group, so that a signal
    sent to it is the only one it gets). It finds the tests' modules (`--set
    model=failing_models:...`) as the tests do."""
    search_path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen([*COMMAND, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "WANDB_MODE": "disabled",
                                 "PYTHONPATH": search_path})


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, err = process.communicate()
        pytest.fail(f"`sweep` did not end within {timeout} s; stderr:\n{err}")
    return process.returncode, out, err


def wait_for(condition, *, timeout: float, what: str, process: subprocess.Popen | None = None,
             every: float = 0.05):
    """condition()'s first true value, looked at every `every` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended (code {process.returncode}) before {what}: "
                        f"{process.stderr.read()}")
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie (orphans may wait a while to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def epochs_saved(last: Path) -> int:
    """The epoch of a trial's last.pt, 0 while there is none."""
    from torchsweep.trainer.checkpoint import load_checkpoint

    try:
        return load_checkpoint(last)["epoch"] if last.is_file() else 0
    except Exception:  # being replaced right now: try again
        return 0


@contextmanager
def server_study(url: str = POSTGRES):
    """A uniquely named study on the machine's PostgreSQL (or MariaDB, Redis), deleted
    afterwards; a missing server fails on CI and skips elsewhere."""
    needs_server(url)
    name = f"test_{uuid.uuid4().hex[:10]}"
    try:
        yield url, name
    finally:
        try:
            optuna.delete_study(study_name=name, storage=open_storage(url, create=False))
        except KeyError:
            pass
