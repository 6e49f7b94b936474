"""Every sampler a study can name -> the function that builds it: the names and their meaning
are `study.choices.SAMPLERS` (tests/test_choices.py holds the two to each other)."""
from __future__ import annotations

from typing import Callable

import optuna

from torchsweep.sweeps.engine.samplers import cmaes, gp, grid, qmc, random, tpe
from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.study import SearchSpace

FACTORIES: dict[str, Callable[[SearchSpace, int | None], optuna.samplers.BaseSampler]] = {
    "tpe": tpe.build,
    "random": random.build,
    "grid": grid.build,
    "cmaes": cmaes.build,
    "qmc": qmc.build,
    "gp": gp.build,
}


def build_sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    build = FACTORIES.get(name)
    if build is None:   # a study recorded by another version of sweep
        raise StudyError(f"sampler {name!r}: not a sampler of this version of sweep; use "
                         f"{', '.join(FACTORIES)}")
    return build(space, seed)
