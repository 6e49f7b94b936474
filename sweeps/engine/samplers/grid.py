"""`grid`: Optuna's GridSampler, over the grid of the study's finite space."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.study import SearchSpace


def build(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GridSampler(space.grid(), seed=seed)
