"""The Optuna objective: a thin adapter from a trial to `trainer.fit` and back.

It samples the trial's settings, trains them, reports the study metric to Optuna at every
evaluation with the samples seen as the step (so the pruner can stop the trial, also within
an epoch, comparing trials of any batch size after equal data), and records on the trial
what `sweep show`, `sweep best` and checkpoint retention need later. With repeats (see
`repeats`) it trains the configuration once per seed and reports one value per seed instead,
the trial's value their mean. Nothing here trains or decides: the trainer trains, the pruner
decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna, failures, heartbeat, outage, repeats, retries
from torchsweep.sweeps.engine.artifacts import Artifacts
from torchsweep.sweeps.errors import ConfigError, InfeasibleDraw, StorageError
from torchsweep.sweeps.readout.stats import interval
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.tracking.wandb_runs import Tracker
from torchsweep.trainer import TrainConfig


class Observer(Protocol):
    """What a live view is told while its worker runs trials: the study and how many trials
    are queued when it starts, then each trial's start, epochs (a program's: each step it
    logged) and end."""
    def planned(self, queued: int, spec: StudySpec) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None: ...
    def trial_finished(self, number: int, state: str, value: float | None) -> None: ...


class NullObserver:
    def planned(self, queued: int, spec: StudySpec) -> None:
        return None

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        return None

    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None:
        return None

    def trial_finished(self, number: int, state: str, value: float | None) -> None:
        return None


@dataclass
class Objective:
    spec: StudySpec
    root: Path
    overrides: dict[str, Any]        # settings forced from the command line (e.g. device)
    # One tracker for the worker's trials and its study run: it remembers a W&B failure.
    tracker: Tracker
    storage_shown: str               # the storage URL with any password masked
    sampler_name: str
    observer: Observer
    artifacts: Artifacts | None = None   # --artifacts: last.pt uploaded, a retry downloads it
    job: str | None = None               # the scheduler job this worker runs in
    repeats: int = 1                     # seeds each configuration trains with
    trainer: Callable[..., Any] | None = None   # trains the config: trainer.loop.fit if None

    def __call__(self, trial: optuna.Trial) -> float:
        if self.trainer is None:
            from torchsweep.trainer.loop import fit
        else:
            fit = self.trainer

        try:
            params = self.spec.space.sample(trial)
            config = TrainConfig.from_dict({**params, **self.overrides})
        except (InfeasibleDraw, ConfigError) as error:   # settings drawn that cannot train
            raise failures.infeasible(trial, error) from None
        folder = f"{self.spec.name}/trials/{trial.number:05d}"
        attrs.record_start(trial, params, folder, self.job, config=config.to_dict())
        self.observer.trial_started(trial.number, params)
        run = self.tracker.start_trial_run(
            study=self.spec.name, trial_number=trial.number, study_dir=self.root / self.spec.name,
            trial_dir=self.root / folder, tags=(self.sampler_name,),
            config={**config.to_dict(), **params, "study": self.spec.name,
                    "trial_number": trial.number, "storage": self.storage_shown,
                    "retry_of": attrs.retry_of(_optuna.frozen(trial)), "repeats": self.repeats})

        def observe(metrics: dict[str, float]) -> None:
            self.observer.epoch_ended(trial.number, metrics)

        def report(row: dict[str, float]) -> bool:
            # Optuna prunes single objectives; repeats report per seed; a metric known only at
            # an epoch's end (train_loss, epoch_seconds, ...) is reported at the epoch's end.
            if self.spec.multi_objective or self.repeats > 1 or self.spec.metric not in row:
                return False
            return outage.report(trial, row[self.spec.metric], int(row["samples"]))

        try:
            # A retry continues its failed attempt's checkpoint (None for a first attempt).
            uploads = ()
            if self.artifacts is not None:
                self.artifacts.fetch_for_retry(trial, self.root)
                uploads = (self.artifacts.uploader(trial, self.root, folder),)
            resume = retries.resume_point(self.root, trial)
            if resume is not None:
                attrs.record_resumed_at(trial, resume.epoch)
            result = fit(config, out_dir=self.root / folder,
                         callbacks=(run.log, observe, *uploads), evaluation_callbacks=(report,),
                         resume_from=resume.checkpoint if resume else None,
                         monitor=self.spec.metric, goal=self.spec.goal,
                         before_write=lambda: heartbeat.hold(trial))
            status = result.status
            values = [self._values(result)] if status == "completed" else []
            if status == "completed" and self.repeats > 1:
                status, values = self._other_seeds(trial, config, folder, values[0], observe)
        except (heartbeat.TrialTakenOver, UpdateFinishedTrialError, StorageError) as error:
            # Nothing to record it in: another worker has the trial, or the storage is gone.
            run.finish("failed", {"error": str(error)})
            raise
        except BaseException as error:  # Ctrl+C and SIGTERM too: the W&B run must be finished
            failures.ended_by(trial, run, error)

        # Where it stopped, in epochs: the last evaluation's nominal position (1.25 is a quarter
        # into the second epoch); the samples it trained on, the stopped epoch's part included.
        stopped_at = (round(result.evaluations[-1]["epoch"], 3) if result.evaluations
                      else result.epochs_run)
        summary = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                   "best": result.best, "final": result.final,
                   "samples_trained": result.samples_trained,
                   "epochs_trained": round(result.samples_trained / result.train_samples, 4),
                   "pruned_at": stopped_at if result.status != "completed" else None}
        attrs.record_summary(trial, summary, result.best_reliability)
        if status == "completed":
            spreads = [interval(column) for column in zip(*values)]
            flat = _flat_summary(summary, self.spec.metric)
            if self.repeats > 1:
                flat.update({f"mean_{self.spec.metric}": spreads[0].mean,
                             f"std_{self.spec.metric}": spreads[0].std, "seeds": len(values)})
            run.finish("completed", flat)
            means = tuple(spread.mean for spread in spreads)
            return means if self.spec.multi_objective else means[0]
        # A diverged loss is a dead end the sampler should learn to avoid, like a pruned trial.
        reason = "diverged" if status == "diverged" else "pruned"
        attrs.record_reason(trial, reason)
        run.finish("pruned", {**_flat_summary(summary, self.spec.metric), "reason": reason})
        raise optuna.TrialPruned(f"{reason} at epoch {stopped_at:g}")

    def _values(self, result: Any) -> tuple[float, ...]:
        return tuple(result.best[objective.name] for objective in self.spec.objectives)

    def _other_seeds(self, trial: optuna.Trial, config: TrainConfig, folder: str,
                     first: tuple[float, ...], observe: Callable[[dict], None],
                     ) -> tuple[str, list[tuple[float, ...]]]:
        """Train the seeds after the first, reporting each seed's value at step = its index so
        that the Wilcoxon pruner pairs it with the best trial's same seed. Returns the status
        ('completed', or 'diverged' when a seed's loss did) and every seed's values."""

        seeds = repeats.seeds(config.seed, self.repeats)
        values, dirs = [first], [folder]
        for index, seed in enumerate(seeds):
            if index > 0:
                dirs.append(repeats.seed_folder(folder, seed))
                result = repeats.train_seed(config, seed, self.root / dirs[-1], self.spec.metric,
                                            self.spec.goal, callbacks=(observe,))
                if result.status != "completed":
                    return result.status, values
                values.append(self._values(result))
            self._record_seeds(trial, seeds[:index + 1], dirs, values)
            # Optuna's advice: keep the mean of the seeds run
            if not self.spec.multi_objective and outage.report(trial, values[index][0], index):
                break
        return "completed", values

    def _record_seeds(self, trial: optuna.Trial, seeds: list[int], dirs: list[str],
                      values: list[tuple[float, ...]]) -> None:
        names = [objective.name for objective in self.spec.objectives]
        by_metric = {name: [v[i] for v in values] for i, name in enumerate(names)}
        spreads = {name: interval(column) for name, column in by_metric.items()}
        attrs.record_repeats(trial, {
            "seeds": seeds, "dirs": dirs, "values": by_metric, "planned": self.repeats,
            "mean": {name: s.mean for name, s in spreads.items()},
            "std": {name: s.std for name, s in spreads.items()}})


def _flat_summary(summary: dict[str, Any], metric: str) -> dict[str, Any]:
    best = summary["best"] or {}
    return {f"best_{metric}": best.get(metric), "epochs_run": summary["epochs_run"],
            "best_epoch": summary["best_epoch"], "pruned_at": summary["pruned_at"],
            "epochs_trained": summary["epochs_trained"]}
