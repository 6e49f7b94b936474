"""`qmc`: Optuna's QMCSampler (Sobol)."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.study import SearchSpace


def build(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(seed=seed)
