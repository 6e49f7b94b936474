"""Callbacks that end a worker's loop early: the study reached its target, or keeps failing."""
from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps.readout.trials import ranked
from torchsweep.sweeps.study import StudySpec


class StopAtTarget:
    """metric.target: stop once any completed trial of the study, from any worker, reaches it."""

    def __init__(self, spec: StudySpec):
        self.target, self.goal = spec.target, spec.goal

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.target is None:
            return
        best = ranked(study)[:1]
        value = best[0].value if best else None
        if value is not None and self.goal.reaches(value, self.target):
            study.stop()


class StopAfterFailures:
    """A sweep whose trials keep failing is broken: a worker stops after `limit` failures in a
    row (its own trials; out-of-memory and diverged trials are pruned, not failed)."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row = limit, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.in_a_row >= self.limit:
            study.stop()
