"""Every sampler a study can name -> the function that builds it: the names and their meaning
are `study.choices.SAMPLERS` (tests/test_choices.py holds the two to each other)."""
from __future__ import annotations

from typing import Callable

import optuna

from torchsweep.sweeps.engine.samplers import cmaes, gp, grid, qmc, random, tpe
from torchsweep.sweeps.study import SearchSpace
from torchsweep.sweeps.study.choices import sampler_choice

FACTORIES: dict[str, Callable[[SearchSpace, int | None], optuna.samplers.BaseSampler]] = {
    "tpe": tpe.build,
    "random": random.build,
    "grid": grid.build,
    "cmaes": cmaes.build,
    "qmc": qmc.build,
    "gp": gp.build,
}


def build_sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    sampler_choice(name)   # an unknown name is an error, never a default
    return FACTORIES[name](space, seed)
