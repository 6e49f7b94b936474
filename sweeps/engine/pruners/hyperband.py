"""`hyperband`: Optuna's HyperbandPruner, from early_terminate's min_iter epochs to the
study's most epochs."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.engine.pruners.resources import Resources, most_epochs


def build(resources: Resources) -> optuna.pruners.BasePruner:
    if resources.epoch_samples is None:   # a program's own steps: Optuna finds the most
        return optuna.pruners.HyperbandPruner(min_resource=resources.min_resource,
                                              max_resource="auto",
                                              reduction_factor=resources.reduction_factor)
    most = most_epochs(resources.spec) * resources.epoch_samples
    return optuna.pruners.HyperbandPruner(min_resource=min(resources.min_resource, most),
                                          max_resource=most,
                                          reduction_factor=resources.reduction_factor)
