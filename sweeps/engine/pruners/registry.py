"""Every pruner a study can name -> the function that builds it: the names and their meaning are
`study.choices.PRUNERS` (tests/test_choices.py holds the two to each other)."""
from __future__ import annotations

from typing import Callable

import optuna

from torchsweep.sweeps.engine.pruners import (
    hyperband,
    median,
    nop,
    successive_halving,
    wandb_hyperband,
    wilcoxon,
)
from torchsweep.sweeps.engine.pruners.prune_within import PruneWithin
from torchsweep.sweeps.engine.pruners.resources import Resources
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.choices import pruner_choice

FACTORIES: dict[str, Callable[[Resources], optuna.pruners.BasePruner]] = {
    "median": median.build,
    "hyperband": hyperband.build,
    "successive_halving": successive_halving.build,
    "wandb_hyperband": wandb_hyperband.build,
    "wilcoxon": wilcoxon.build,
    "none": nop.build,
}


def build_pruner(name: str, spec: StudySpec,
                 epoch_samples: int | None) -> optuna.pruners.BasePruner:
    """`epoch_samples`: the training split's size (see `resources.epoch_samples`); None for a
    program, and for a pruner whose unit is not samples. With the study's `prune_within`, one
    such pruner per value of that parameter, each seeing only its own trials."""
    unit = pruner_choice(name).unit   # an unknown name is an error, never a default
    build, resources = FACTORIES[name], Resources(spec, epoch_samples)
    if spec.prune_within is None or unit is None:
        return build(resources)
    return PruneWithin(spec.prune_within, lambda: build(resources))
