"""`random`: Optuna's RandomSampler."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.study import SearchSpace


def build(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)
