"""`median`: Optuna's MedianPruner, once a few trials and epochs set the median."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.engine.pruners.resources import Resources

MEDIAN_STARTUP_TRIALS = 3    # the first trials set the median
MEDIAN_WARMUP_EPOCHS = 2     # the first epochs of any trial are too noisy to judge (a program:
                             # its own steps)


def build(resources: Resources) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                       n_warmup_steps=MEDIAN_WARMUP_EPOCHS * resources.per_epoch)
