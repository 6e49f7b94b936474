"""`successive_halving`: Optuna's SuccessiveHalvingPruner, its first rung at
early_terminate's min_iter epochs."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.engine.pruners.resources import Resources


def build(resources: Resources) -> optuna.pruners.BasePruner:
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=resources.min_resource,
                                                  reduction_factor=resources.reduction_factor)
