"""Weights & Biases runs, one per trial, behind a null object for when tracking is off.

W&B is optional background work: a run that cannot start costs one warning, never a trial.
Mode: `--wandb` wins, then WANDB_MODE, then online when credentials exist, else offline
(offline runs are real files under `<root>/<study>/wandb/` that `wandb sync` uploads later).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

MODES = ("online", "offline", "disabled")
DEFAULT_PROJECT = "sweep"


def resolve_mode(requested: str | None) -> str:
    if requested:
        return requested
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in MODES:
        return env
    if env == "dryrun":
        return "offline"
    return "online" if _has_credentials() else "offline"


def _has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


class NullRun:
    """Tracking switched off (or W&B failed to start): every call does nothing."""

    def log(self, metrics: dict[str, float]) -> None:
        return None

    def finish(self, state: str, summary: dict[str, Any]) -> None:
        return None


class TrialRun:
    """A live W&B run for one trial: per-epoch metrics, then a final state and summary."""

    def __init__(self, run):
        self._run = run
        # Epoch, not W&B's internal step, is the x-axis of every curve.
        run.define_metric("epoch")
        run.define_metric("*", step_metric="epoch")

    def log(self, metrics: dict[str, float]) -> None:
        self._run.log(metrics)

    def finish(self, state: str, summary: dict[str, Any]) -> None:
        self._run.summary.update({**summary, "state": state})
        self._run.tags = tuple(self._run.tags or ()) + (state,)
        self._run.finish(exit_code=1 if state == "failed" else 0)


def start_trial_run(*, mode: str, study: str, trial_number: int, directory: Path,
                    config: dict[str, Any], tags: tuple[str, ...], project: str | None = None,
                    entity: str | None = None) -> TrialRun | NullRun:
    if mode == "disabled":
        return NullRun()
    try:
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        run = wandb.init(project=project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
                         entity=entity, group=study, job_type="trial",
                         name=f"{study}-t{trial_number}", config=config, tags=list(tags),
                         dir=str(directory), mode=mode, reinit="create_new",
                         settings=wandb.Settings(init_timeout=30, silent=True, console="off"))
        return TrialRun(run)
    except Exception as error:  # W&B must never take a trial down
        warnings.warn(f"W&B run for trial {trial_number} did not start ({error}); "
                      "training goes on without it", stacklevel=2)
        return NullRun()
