"""Every pruner a study can name -> the function that builds it: `build` in the module of this
folder that has the pruner's name (none.py builds Optuna's NopPruner). The names and what they
mean are `study.choices.PRUNERS`: a new pruner is one module here and one line there
(tests/test_choices.py holds the folder and the table to each other)."""
from __future__ import annotations

import importlib
from typing import Callable

import optuna

from torchsweep.sweeps.engine.pruners.prune_within import PruneWithin
from torchsweep.sweeps.engine.pruners.resources import Resources
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.choices import pruner_choice


def factory(name: str) -> Callable[[Resources], optuna.pruners.BasePruner]:
    pruner_choice(name)   # an unknown name is an error, never a default
    build: Callable[[Resources], optuna.pruners.BasePruner] = \
        importlib.import_module(f"{__package__}.{name}").build
    return build


def build_pruner(name: str, spec: StudySpec,
                 epoch_samples: int | None) -> optuna.pruners.BasePruner:
    """`epoch_samples`: the training split's size (see `resources.epoch_samples`); None for a
    program, and for a pruner whose unit is not samples. With the study's `prune_within`, one
    such pruner per value of that parameter, each seeing only its own trials."""
    build, resources = factory(name), Resources(spec, epoch_samples)
    if spec.prune_within is None or pruner_choice(name).unit is None:
        return build(resources)
    return PruneWithin(spec.prune_within, lambda: build(resources))
