"""The Optuna objective for the user's own function, in the worker that claimed the trial.

A function of one argument gets the trial (`handle.Trial`): it reports its metrics through it
(its W&B run and the pruner, which stops it by raising `Pruned` from `report`) and saves its
checkpoint there. A function of none is W&B's kind: it is run as a program's trial is, on a
thread instead of a process (`thread`), and its metric is read from the W&B run it writes.
Either way the trial's value is the run summary's value of the metric (the last one
reported, or what the function returns), what W&B itself would use, and its folder is its
first attempt's, so a retry finds the checkpoint it saved.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna, failures
from torchsweep.sweeps.engine.function.handle import Pruned, Trial
from torchsweep.sweeps.engine.function.thread import FunctionThread
from torchsweep.sweeps.engine.heartbeat import TrialTakenOver
from torchsweep.sweeps.engine.program.objective import (
    NO_METRIC_VALUE,
    STOPPED_STATE,
    ProgramObjective,
    trial_folder,
)
from torchsweep.sweeps.errors import InfeasibleDraw, StorageError


def takes_trial(function: Callable) -> bool:
    """Whether `function` takes the trial (one positional argument), or none (W&B's kind)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):   # a builtin or an extension's callable: assume ours
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in parameters)


@dataclass
class FunctionObjective(ProgramObjective):
    function: Callable[..., Any] | None = None

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        if not takes_trial(self.function):
            return super().__call__(trial)
        try:
            values = self.spec.space.sample(trial)
        except InfeasibleDraw as error:
            raise failures.infeasible(trial, error) from None
        folder = trial_folder(self.spec.name, _optuna.frozen(trial), trial.number)
        params = self.spec.space.nest(values)
        attrs.record_start(trial, values, folder, self.job, config=params)
        self.observer.trial_started(trial.number, values)
        run = self.tracker.start_trial_run(
            study=self.spec.name, trial_number=trial.number, study_dir=self.root / self.spec.name,
            trial_dir=self.root / folder, tags=(self.sampler_name,),
            config={**params, "study": self.spec.name, "trial_number": trial.number,
                    "retry_of": attrs.retry_of(_optuna.frozen(trial))})

        def log(metrics: dict[str, Any]) -> None:
            run.log(metrics)
            self.observer.epoch_ended(trial.number, metrics)

        handle = Trial(number=trial.number, params=params, folder=(self.root / folder).resolve(),
                       metric=self.spec.metric, optuna_trial=trial, log=log,
                       prunes=not self.spec.multi_objective)
        try:
            returned = self.function(handle)
        except (Pruned, optuna.TrialPruned):
            self._record(trial, handle, pruned=True)
            attrs.record_reason(trial, "pruned")
            run.finish("pruned", handle.summary)
            step = handle.reported[-1][0] if handle.reported else 0
            raise optuna.TrialPruned(f"pruned at step {step}") from None
        except (TrialTakenOver, UpdateFinishedTrialError, StorageError) as error:
            run.finish("failed", {"error": str(error)})   # another worker has it, or no storage
            raise
        except BaseException as error:   # Ctrl+C and SIGTERM too: the W&B run must be finished
            failures.ended_by(trial, run, error)
        if isinstance(returned, dict):
            handle.summary.update(returned)
        elif isinstance(returned, (int, float)) and self.spec.metric:
            handle.summary[self.spec.metric] = returned
        self._record(trial, handle, pruned=False)
        try:
            value = self._value(trial, handle)
        except failures.TrialFailed:
            run.finish("failed", handle.summary)
            raise
        run.finish("completed", handle.summary)
        return value

    def _process(self, environment: dict[str, str], values: dict[str, Any],
                 folder: Path) -> FunctionThread:
        return FunctionThread(self.function, env=environment, grace=self.stop_grace,
                              stopped_state=STOPPED_STATE)

    def _record(self, trial: optuna.Trial, handle: Trial, *, pruned: bool) -> None:
        names = [objective.name for objective in self.spec.objectives]
        attrs.record_summary(trial, {
            "epochs_run": len(handle.reported),
            "pruned_at": handle.reported[-1][0] if pruned and handle.reported else None,
            "best": {name: handle.summary[name] for name in names if name in handle.summary}})

    def _value(self, trial: optuna.Trial, handle: Trial) -> float | tuple[float, ...]:
        names = [objective.name for objective in self.spec.objectives]
        if not names:   # a study without a metric: nothing to rank by
            return NO_METRIC_VALUE
        missing = [name for name in names if not isinstance(handle.summary.get(name),
                                                            (int, float))]
        if missing:
            reported = ", ".join(sorted(handle.summary)) or "nothing"
            raise failures.failed(trial, "no_metric", f"the function never reported "
                                  f"{missing[0]} (trial.report({missing[0]}=...)) nor returned "
                                  f"it; it reported: {reported}")
        values = tuple(float(handle.summary[name]) for name in names)
        return values if len(values) > 1 else values[0]
