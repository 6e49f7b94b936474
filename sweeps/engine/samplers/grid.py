"""`grid`: Optuna's GridSampler, over the grid of the study's finite space."""
from __future__ import annotations

import optuna

from torchsweep.sweeps.study import SearchSpace

# GridSampler shuffles the grid with its seed and gives trial n the shuffled grid's n-th point.
# Workers have different seeds (seed + k locally, random for `sweep worker`), so each must
# shuffle with this one: with their own, two workers' trials landed on the same points and
# left others out (a 320-point grid on 2 workers ran 252 distinct points).
GRID_ORDER_SEED = 0


def build(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GridSampler(space.grid(), seed=GRID_ORDER_SEED)
