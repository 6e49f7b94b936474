"""`wandb_hyperband`: W&B's own hyperband stopping (its `hyperband_stopping.py`), which takes any
eta above 1; Optuna's reduction factor is a whole number, so a fractional eta runs here.

W&B's bands (`study.early_terminate.bands`) are iterations, here steps: the trainer's epochs
counted in samples seen, or a program's own steps. At a trial's latest band, the value each
trial of the study had there (the last it reported at or before the band, for the trials that
got that far, this one included, whatever their state) is ranked; the threshold is the value at
index int(n / eta), best first, and a trial worse than it stops: W&B's rule, with its default
`strict`, which compares the trial's value at the band.
"""
from __future__ import annotations

import math
from typing import Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from torchsweep.sweeps.engine.pruners.resources import Resources
from torchsweep.sweeps.study.early_terminate import HYPERBAND_ETA, bands


class WandbHyperband(optuna.pruners.BasePruner):
    def __init__(self, band_steps: Sequence[int], eta: float):
        self.band_steps, self.eta = sorted(band_steps), eta

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if not trial.intermediate_values:
            return False
        reached = [band for band in self.band_steps if band <= max(trial.intermediate_values)]
        if not reached:
            return False
        band, mine = reached[-1], _at(trial, reached[-1])
        if mine is None:
            return False
        sign = -1 if study.direction == StudyDirection.MAXIMIZE else 1   # W&B negates a maximum
        values = sorted(sign * value for value in (
            _at(other, band) for other in study.get_trials(deepcopy=False)) if value is not None)
        threshold = values[int(1.0 / self.eta * len(values))]   # W&B's r = 1 / eta
        return sign * mine > threshold


def _at(trial: FrozenTrial, band: int) -> float | None:
    """The trial's last finite value at or before `band`, if it has reported as far."""
    reported = {step: value for step, value in trial.intermediate_values.items()
                if math.isfinite(value)}
    if not reported or max(trial.intermediate_values) < band:
        return None
    before = [step for step in reported if step <= band]
    return reported[max(before)] if before else None


def build(resources: Resources) -> optuna.pruners.BasePruner:
    block = resources.spec.early_terminate or {"min_iter": 1, "eta": HYPERBAND_ETA}
    steps = {max(1, round(band * resources.per_epoch)) for band in bands(block)}
    return WandbHyperband(sorted(steps), block["eta"])
