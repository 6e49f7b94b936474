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
from typing import TYPE_CHECKING, Any, Callable, Protocol

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna, failures, heartbeat, outage, repeats, retries
from torchsweep.sweeps.engine.artifacts import Artifacts
from torchsweep.sweeps.errors import ConfigError, InfeasibleDraw, StorageError
from torchsweep.sweeps.readout.stats import interval
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.tracking.background import Fanout
from torchsweep.sweeps.tracking.wandb_runs import Tracker
from torchsweep.trainer import TrainConfig

if TYPE_CHECKING:
    from torchsweep.trainer.loop import FitResult


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

    @property
    def metric(self) -> str:
        """The study's (first) metric: a study of the trainer always has one (val_acc unless it
        names another)."""
        assert self.spec.metric is not None, "a trainer study without a metric"
        return self.spec.metric

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        params, config = self._draw(trial)
        folder = f"{self.spec.name}/trials/{trial.number:05d}"
        attrs.record_start(trial, params, folder, self.job, config=config.to_dict())
        self.observer.trial_started(trial.number, params)
        run = self._start_run(trial, params, config, folder)
        result, status, values = self._train(trial, config, folder, run)
        summary = _summary(result)
        attrs.record_summary(trial, summary, result.best_reliability)
        if status == "completed":
            return self._complete(run, summary, values)
        # A diverged loss is a dead end the sampler should learn to avoid, like a pruned trial.
        reason = "diverged" if status == "diverged" else "pruned"
        attrs.record_reason(trial, reason)
        run.finish("pruned", {**_flat_summary(summary, self.metric), "reason": reason})
        raise optuna.TrialPruned(f"{reason} at epoch {_stopped_at(result):g}")

    def _draw(self, trial: optuna.Trial) -> tuple[dict[str, Any], TrainConfig]:
        """The trial's settings, drawn; settings that cannot train are an infeasible draw."""
        try:
            params = self.spec.space.sample(trial)
            return params, TrainConfig.from_dict({**params, **self.overrides})
        except (InfeasibleDraw, ConfigError) as error:
            raise failures.infeasible(trial, error) from None

    def _start_run(self, trial: optuna.Trial, params: dict[str, Any], config: TrainConfig,
                   folder: str) -> Fanout:
        return self.tracker.start_trial_run(
            study=self.spec.name, trial_number=trial.number, study_dir=self.root / self.spec.name,
            trial_dir=self.root / folder, tags=(self.sampler_name,),
            config={**config.to_dict(), **params, "study": self.spec.name,
                    "trial_number": trial.number, "storage": self.storage_shown,
                    "retry_of": attrs.retry_of(_optuna.frozen(trial)), "repeats": self.repeats})

    def _train(self, trial: optuna.Trial, config: TrainConfig, folder: str, run: Fanout,
               ) -> tuple[FitResult, str, list[tuple[float, ...]]]:
        """Train the trial (a retry from its failed attempt's checkpoint), then its other
        seeds: the first seed's result, the status and every seed's values. A failure is
        recorded on the trial and its run before it is raised."""
        if self.trainer is None:
            from torchsweep.trainer.loop import fit
        else:
            fit = self.trainer

        def observe(metrics: dict[str, float]) -> None:
            self.observer.epoch_ended(trial.number, metrics)

        def report(row: dict[str, float]) -> bool:
            # Optuna prunes single objectives; repeats report per seed; a metric known only at
            # an epoch's end (train_loss, epoch_seconds, ...) is reported at the epoch's end.
            if self.spec.multi_objective or self.repeats > 1 or self.metric not in row:
                return False
            return outage.report(trial, row[self.metric], int(row["samples"]))

        try:
            uploads: tuple[Callable[[dict[str, float]], bool], ...] = ()
            if self.artifacts is not None:
                self.artifacts.fetch_for_retry(trial, self.root)
                uploads = (self.artifacts.uploader(trial, self.root, folder),)
            resume = retries.resume_point(self.root, trial)
            if resume is not None:
                attrs.record_resumed_at(trial, resume.epoch)
            result = fit(config, out_dir=self.root / folder,
                         callbacks=(run.log, observe, *uploads), evaluation_callbacks=(report,),
                         resume_from=resume.checkpoint if resume else None,
                         monitor=self.metric, goal=self.spec.goal,
                         before_write=lambda: heartbeat.hold(trial))
            status = result.status
            values = [self._values(result)] if status == "completed" else []
            if status == "completed" and self.repeats > 1:
                status, values = self._other_seeds(trial, config, folder, values[0], observe)
            return result, status, values
        except (heartbeat.TrialTakenOver, UpdateFinishedTrialError, StorageError) as error:
            # Nothing to record it in: another worker has the trial, or the storage is gone.
            run.finish("failed", {"error": str(error)})
            raise
        except BaseException as error:  # Ctrl+C and SIGTERM too: the W&B run must be finished
            failures.ended_by(trial, run, error)

    def _complete(self, run: Fanout, summary: attrs.TrialSummary,
                  values: list[tuple[float, ...]]) -> float | tuple[float, ...]:
        """The trial's value: each objective's mean over the seeds."""
        spreads = [interval(column) for column in zip(*values)]
        flat = _flat_summary(summary, self.metric)
        if self.repeats > 1:
            flat.update({f"mean_{self.metric}": spreads[0].mean,
                         f"std_{self.metric}": spreads[0].std, "seeds": len(values)})
        run.finish("completed", flat)
        means = tuple(spread.mean for spread in spreads)
        return means if self.spec.multi_objective else means[0]

    def _values(self, result: FitResult) -> tuple[float, ...]:
        best = result.best or {}
        return tuple(best[objective.name] for objective in self.spec.objectives)

    def _other_seeds(self, trial: optuna.Trial, config: TrainConfig, folder: str,
                     first: tuple[float, ...], observe: Callable[[dict[str, float]], None],
                     ) -> tuple[str, list[tuple[float, ...]]]:
        """Train the seeds after the first, reporting each seed's value at step = its index so
        that the Wilcoxon pruner pairs it with the best trial's same seed. Returns the status
        ('completed', or 'diverged' when a seed's loss did) and every seed's values."""

        seeds = repeats.seeds(config.seed, self.repeats)
        values, dirs = [first], [folder]
        for index, seed in enumerate(seeds):
            if index > 0:
                dirs.append(repeats.seed_folder(folder, seed))
                result = repeats.train_seed(config, seed, self.root / dirs[-1], self.metric,
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


def _stopped_at(result: FitResult) -> float:
    """Where training stopped, in epochs: the last evaluation's nominal position (1.25 is a
    quarter into the second epoch)."""
    return (round(result.evaluations[-1]["epoch"], 3) if result.evaluations
            else result.epochs_run)


def _summary(result: FitResult) -> attrs.TrialSummary:
    """What the trial ran to; the samples it trained on include a stopped epoch's part."""
    return attrs.TrialSummary(
        epochs_run=result.epochs_run, best_epoch=result.best_epoch, best=result.best,
        final=result.final, samples_trained=result.samples_trained,
        epochs_trained=round(result.samples_trained / result.train_samples, 4),
        pruned_at=_stopped_at(result) if result.status != "completed" else None)


def _flat_summary(summary: attrs.TrialSummary, metric: str) -> dict[str, Any]:
    """The trial's W&B run summary."""
    return {f"best_{metric}": (summary.best or {}).get(metric), "epochs_run": summary.epochs_run,
            "best_epoch": summary.best_epoch, "pruned_at": summary.pruned_at,
            "epochs_trained": summary.epochs_trained}
