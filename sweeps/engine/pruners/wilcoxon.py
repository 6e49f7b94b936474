"""`wilcoxon`: Optuna's WilcoxonPruner; a study with repeats reports seed k of a trial at
step k (see engine/repeats)."""
from __future__ import annotations

import warnings

import optuna

from torchsweep.sweeps.engine.pruners.resources import Resources
from torchsweep.sweeps.engine.repeats import WILCOXON_P


def build(resources: Resources) -> optuna.pruners.BasePruner:
    with warnings.catch_warnings():   # experimental in Optuna, and noise to a user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.WilcoxonPruner(p_threshold=WILCOXON_P)
