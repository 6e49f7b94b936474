"""The Optuna objective: a thin adapter from a trial to `trainer.fit` and back.

It samples the trial's settings, trains them, reports the study metric to Optuna after every
epoch (so the pruner can stop the trial), and records on the trial what `sweep show`,
`sweep best` and checkpoint retention need later. Nothing here trains or decides: the
trainer trains, the pruner decides.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna

from torchsweep.sweeps.engine import failures
from torchsweep.sweeps.engine import retries
from torchsweep.sweeps.tracking import wandb_runs as tracking
from torchsweep.sweeps.engine.retention import TRIAL_DIR_ATTR
from torchsweep.sweeps.study.studyfile import StudySpec
from torchsweep.trainer import TrainConfig

PARAMS_ATTR = "params"        # the trial's decoded parameter values
CONFIG_ATTR = "config"        # the resolved training config
SUMMARY_ATTR = "summary"      # epochs_run, best_epoch, best/final metrics, pruned_at, state
REASON_ATTR = "reason"        # why a trial did not complete: pruned, diverged, error, ...
ERROR_ATTR = "error"          # the traceback of a failed trial


class Observer(Protocol):
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None: ...


class NullObserver:
    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        return None

    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None:
        return None


@dataclass
class Objective:
    spec: StudySpec
    root: Path
    overrides: dict[str, Any]        # settings forced from the command line (e.g. device)
    wandb_mode: str
    wandb_project: str | None
    wandb_entity: str | None
    storage_shown: str               # the storage URL with any password masked
    sampler_name: str
    observer: Observer
    tensorboard: bool = False        # TensorBoard event files in each trial's folder

    def __post_init__(self):
        # One tracker for all trials: it remembers a W&B failure for the trials after it.
        self.tracker = tracking.Tracker(self.wandb_mode, self.wandb_project, self.wandb_entity,
                                        self.tensorboard)

    def __call__(self, trial: optuna.Trial) -> float:
        from torchsweep.trainer.loop import fit

        params = self.spec.space.sample(trial)
        config = TrainConfig.from_dict({**params, **self.overrides})
        folder = f"{self.spec.name}/trials/{trial.number:05d}"
        trial.set_user_attr(PARAMS_ATTR, params)
        trial.set_user_attr(CONFIG_ATTR, config.to_dict())
        trial.set_user_attr(TRIAL_DIR_ATTR, folder)
        self.observer.trial_started(trial.number, params)
        run = self.tracker.start_trial_run(
            study=self.spec.name, trial_number=trial.number, study_dir=self.root / self.spec.name,
            trial_dir=self.root / folder, tags=(self.sampler_name,),
            config={**config.to_dict(), **params, "study": self.spec.name,
                    "trial_number": trial.number, "storage": self.storage_shown,
                    "retry_of": trial.user_attrs.get(retries.RETRY_OF_ATTR)})

        def report(metrics: dict[str, float]) -> bool:
            self.observer.epoch_ended(trial.number, metrics)
            trial.report(metrics[self.spec.metric], step=int(metrics["epoch"]))
            return trial.should_prune()

        try:
            # A retry continues its failed attempt's checkpoint (None for a first attempt).
            resume = retries.resume_checkpoint(self.root, trial)
            if resume is not None:
                trial.set_user_attr(retries.RESUMED_AT_ATTR, retries.checkpoint_epoch(resume))
            result = fit(config, out_dir=self.root / folder, callbacks=(run.log, report),
                         resume_from=resume, monitor=self.spec.metric, goal=self.spec.goal)
        except BaseException as error:  # Ctrl+C and SIGTERM too: the W&B run must be finished
            reason = failures.reason(error)
            trial.set_user_attr(REASON_ATTR, reason)
            if isinstance(error, Exception):
                trial.set_user_attr(ERROR_ATTR, traceback.format_exc(limit=20))
            run.finish(reason if reason in ("interrupted", "preempted") else "failed",
                       {"error": f"{type(error).__name__}: {error}"})
            if reason == "out_of_memory":
                # Told to Optuna as pruned: samplers learn from pruned trials (TPE skips failed
                # ones), so the sweep moves away from settings that do not fit in memory.
                raise optuna.TrialPruned(f"out of memory: {error}") from None
            raise

        summary = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                   "best": result.best, "final": result.final,
                   "pruned_at": result.epochs_run if result.status != "completed" else None}
        trial.set_user_attr(SUMMARY_ATTR, summary)
        if result.status == "completed":
            run.finish("completed", _flat_summary(summary, self.spec.metric))
            return result.best[self.spec.metric]
        # A diverged loss is a dead end the sampler should learn to avoid, like a pruned trial.
        reason = "diverged" if result.status == "diverged" else "pruned"
        trial.set_user_attr(REASON_ATTR, reason)
        run.finish("pruned", {**_flat_summary(summary, self.spec.metric), "reason": reason})
        raise optuna.TrialPruned(f"{reason} at epoch {result.epochs_run}")


def _flat_summary(summary: dict[str, Any], metric: str) -> dict[str, Any]:
    best = summary["best"] or {}
    return {f"best_{metric}": best.get(metric), "epochs_run": summary["epochs_run"],
            "best_epoch": summary["best_epoch"], "pruned_at": summary["pruned_at"]}
