"""Every sampler a study can name -> the function that builds it: `build` in the module of this
folder that has the sampler's name. The names and what they mean are `study.choices.SAMPLERS`:
a new sampler is one module here and one line there (tests/test_choices.py holds the folder and
the table to each other)."""
from __future__ import annotations

import importlib
from typing import Callable

import optuna

from torchsweep.sweeps.study import SearchSpace
from torchsweep.sweeps.study.choices import sampler_choice


def factory(name: str) -> Callable[[SearchSpace, int | None], optuna.samplers.BaseSampler]:
    sampler_choice(name)   # an unknown name is an error, never a default
    build: Callable[[SearchSpace, int | None], optuna.samplers.BaseSampler] = \
        importlib.import_module(f"{__package__}.{name}").build
    return build


def build_sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    return factory(name)(space, seed)
