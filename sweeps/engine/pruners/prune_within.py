"""A study's `prune_within`: any pruner, run apart for each value of one parameter."""
from __future__ import annotations

from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial

from torchsweep.sweeps.engine import _optuna


class PruneWithin(optuna.pruners.BasePruner):
    """Prunes a trial against the trials that share its value of one parameter only. In a
    batch-size study a pruner over all trials compares batch sizes at equal samples seen,
    where the small ones are ahead early, and cuts the large ones before they reach the target:
    the study then cannot say how steps to the target fall with batch size. Within a batch
    size, it still cuts the learning rates that fall behind."""

    def __init__(self, parameter: str, make: Callable[[], optuna.pruners.BasePruner]):
        self.parameter, self._make = parameter, make
        self._pruners: dict[Any, optuna.pruners.BasePruner] = {}   # Hyperband keeps state

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        value = trial.params.get(self.parameter)
        if value not in self._pruners:
            self._pruners[value] = self._make()
        peers = _optuna.study_of(study, lambda t: t.params.get(self.parameter) == value)
        return self._pruners[value].prune(peers, trial)
