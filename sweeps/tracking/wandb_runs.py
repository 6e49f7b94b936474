"""Tracking a sweep: a W&B run per trial (offline first) and TensorBoard files on request.

Mode: `--wandb` wins, then WANDB_MODE, then online when W&B credentials exist, else offline
(offline runs are real files under `<root>/<study>/wandb/` that `sweep sync` uploads later).
W&B is background work that never takes a trial down: when it cannot start a run, the sweep
steps down one mode for the rest of its trials (online -> offline -> disabled) with one
warning, so a sweep that has lost its network keeps its runs, as offline files, and does not
wait on W&B before every trial.
"""
from __future__ import annotations

import netrc
import os
import secrets
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from torchsweep.sweeps.tracking import _wandb
from torchsweep.sweeps.tracking.background import (
    ENDED_NORMALLY,
    BackgroundRun,
    Fanout,
    TrackingWarning,
    first_line,
)
from torchsweep.sweeps.tracking.choices import MODES
from torchsweep.sweeps.tracking.tensorboard_events import TensorBoardRun

WANDB_FOLDER = "wandb"          # W&B's folder of runs, in the folder given as wandb.init's dir
DEFAULT_PROJECT = "sweep"
DEFAULT_HOST = "https://api.wandb.ai"
# Where W&B's defaults suit one script better than a sweep; W&B's own environment variables
# (WANDB_INIT_TIMEOUT, WANDB_FINISH_TIMEOUT, WANDB__TRANSACTION_LOG_FLUSH_INTERVAL) win.
SETTINGS = {
    "init_timeout": 20.0,       # W&B waits 90 s to start a run; a trial waits on it
    "finish_timeout": 60.0,     # W&B waits for uploads without limit; a trial waits on it
    _wandb.FLUSH_INTERVAL: 2.0,
}
# The study run lists the environment's packages once; every trial would list the same ones.
TRIAL_SETTINGS = {_wandb.SAVE_REQUIREMENTS: False}
_STEP_DOWN = {"online": "offline", "offline": "disabled"}


def resolve_mode(requested: str | None) -> str:
    if requested:
        return requested
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in MODES:
        return env
    if env == "dryrun":
        return "offline"
    return "online" if has_credentials() else "offline"


def has_credentials() -> bool:
    """An API key in WANDB_API_KEY, or in .netrc for the W&B host (WANDB_BASE_URL)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST).netloc
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def new_run_id(prefix: str) -> str:
    """`t3-1a2b3c4d`: the trial in the id, and a random part so that a retried or re-created
    trial never clashes with an earlier run (W&B ids are unique per project)."""
    return f"{prefix}-{secrets.token_hex(4)}"


class WandbTrialRun(BackgroundRun):
    """A trial's W&B run: per-epoch metrics against `epoch`, then its state and summary."""

    label = "W&B run"

    def __init__(self, run):
        self._run = run
        self._guard(self._use_epoch_axis)

    def _use_epoch_axis(self) -> None:
        # Epoch, not W&B's internal step, is the x-axis of every curve.
        self._run.define_metric("epoch")
        self._run.define_metric("*", step_metric="epoch")

    def _log(self, metrics: dict[str, float]) -> None:
        self._run.log(metrics)

    def _finish(self, state: str, summary: dict[str, Any]) -> None:
        try:
            self._run.summary.update({**summary, "state": state})
            self._run.tags = tuple(self._run.tags or ()) + (state,)
            if state == "preempted":   # SIGTERM: W&B shows the run as preempted, not crashed
                self._run.mark_preempting()
        finally:
            # W&B marks a run failed by its exit code; a pruned trial ends normally, tagged.
            self._run.finish(exit_code=0 if state in ENDED_NORMALLY else 1)


@dataclass
class Tracker:
    """A sweep's tracking settings, and the W&B mode it has stepped down to after failures."""

    mode: str                           # online | offline | disabled
    project: str | None = None          # --wandb-project, or the one the study recorded
    entity: str | None = None           # --wandb-entity, likewise
    tensorboard: bool = False
    study_project: str | None = None    # the study file's `project:`
    study_entity: str | None = None     # the study file's `entity:`

    def wandb_project(self) -> str:
        """The option, else WANDB_PROJECT, else the study file's, else `sweep`: the order in
        which `wandb sweep` takes a sweep file's project."""
        return (self.project or os.environ.get("WANDB_PROJECT") or self.study_project
                or DEFAULT_PROJECT)

    def wandb_entity(self) -> str | None:
        """Likewise; None leaves it to W&B (the account's default entity)."""
        return self.entity or os.environ.get("WANDB_ENTITY") or self.study_entity

    def start_trial_run(self, *, study: str, trial_number: int, study_dir: Path,
                        trial_dir: Path, config: dict[str, Any], tags: tuple[str, ...]) -> Fanout:
        runs: list[BackgroundRun] = []
        run = self.start_wandb_run(study_dir, f"t{trial_number}", TRIAL_SETTINGS,
                                   name=f"{study}-t{trial_number}", group=study,
                                   job_type="trial", config=config, tags=list(tags))
        if run is not None:
            runs.append(WandbTrialRun(run))
        if self.tensorboard:
            runs.append(TensorBoardRun(trial_dir))
        return Fanout(runs)

    def program_run(self, *, study: str, trial_number: int, study_dir: Path,
                    tags: tuple[str, ...], sweep_params: Path) -> tuple[str, dict[str, str]]:
        """The run id and environment for a trial's own program: its `wandb.init()` then makes
        a run in `<study_dir>/wandb/`, named, grouped and tagged like a built-in trial's, with
        the trial's values in `wandb.config` (W&B's sweep-parameter file, as its agent gives
        it). The program's run is how it reports its metric, so it is written offline even when
        this sweep logs nothing to W&B."""
        run_id = new_run_id(f"t{trial_number}")
        environment = {
            "WANDB_RUN_ID": run_id, "WANDB_NAME": f"{study}-t{trial_number}",
            "WANDB_RUN_GROUP": study, "WANDB_JOB_TYPE": "trial", "WANDB_TAGS": ",".join(tags),
            "WANDB_DIR": str(study_dir), _wandb.SWEEP_PARAM_PATH: str(sweep_params),
            "WANDB_MODE": self.mode if self.mode != "disabled" else "offline",
            "WANDB_PROJECT": self.wandb_project(),
            # Records reach the file (and the pruner) within a second, not W&B's 15 s.
            **_wandb.environment({_wandb.FLUSH_INTERVAL: 1})}
        entity = self.wandb_entity()
        if entity:
            environment["WANDB_ENTITY"] = entity
        return run_id, environment

    def start_wandb_run(self, study_dir: Path, id_prefix: str,
                        settings: dict[str, Any] | None = None, **init):
        """A W&B run in `<study_dir>/wandb/`, or None when W&B is off or cannot start one.
        `init` goes to wandb.init; `settings` add to ours."""
        while self.mode != "disabled":
            run_id = new_run_id(id_prefix)
            try:
                return self._init(study_dir, settings or {}, {**init, "id": run_id})
            except Exception as error:
                # A failed start can leave a folder with the run's first records: it must not
                # be listed, or synced, as a run.
                for folder in _wandb.folders_of(study_dir / WANDB_FOLDER, run_id):
                    shutil.rmtree(folder, ignore_errors=True)
                self._step_down(error, study_dir.name, init["name"])
        return None

    def _init(self, study_dir: Path, settings: dict[str, Any], init: dict[str, Any]):
        import wandb

        study_dir.mkdir(parents=True, exist_ok=True)
        return wandb.init(project=self.wandb_project(), entity=self.wandb_entity(),
                          dir=str(study_dir), reinit="create_new",
                          mode=self.mode,  # type: ignore[arg-type]  # one of MODES: W&B's words
                          settings=_wandb.settings(wandb, {**SETTINGS, **settings}), **init)

    def _step_down(self, error: Exception, study: str, run: str) -> None:
        failed, self.mode = self.mode, _STEP_DOWN[self.mode]
        then = (f"logging offline from now on; `sweep sync {study}` uploads the runs later"
                if self.mode == "offline" else "going on without W&B")
        warnings.warn(f"W&B could not start {run} {failed} ({first_line(error)}); {then}",
                      TrackingWarning, stacklevel=4)
