"""Loaded by Python at the start of each trial program that `sweep` runs (its folder leads the
program's PYTHONPATH); it does nothing in any other process.

When the pruner or a timeout stops a trial, `sweep` sends the program SIGTERM, as W&B's agent
does. Online, W&B's server then marks the run stopped; an offline run file has no such mark,
and a run killed mid-write is left "running". So here SIGTERM ends the program's W&B run first,
as stopped (summary `state: stopped`, tag `stopped`, exit code 0), and then exits the program
with SystemExit, so its own `finally` blocks still run. A program that installs its own SIGTERM
handler replaces this one.
"""
import os
import signal
import sys


def _stop(signum, frame):
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None)
    if run is not None and os.environ.get("SWEEP_STOPPED_STATE"):
        try:
            run.summary["state"] = os.environ["SWEEP_STOPPED_STATE"]
            run.tags = tuple(run.tags or ()) + (os.environ["SWEEP_STOPPED_STATE"],)
            run.finish(exit_code=0)
        except Exception:   # the program is being stopped either way
            pass
    raise SystemExit(128 + signum)


def _load_the_next_sitecustomize():
    """A sitecustomize further down the path (a virtualenv's, a distribution's) still runs."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


if os.environ.get("SWEEP_TRIAL_DIR"):
    signal.signal(signal.SIGTERM, _stop)
_load_the_next_sitecustomize()
