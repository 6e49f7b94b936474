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
    wilcoxon,
)
from torchsweep.sweeps.engine.pruners.prune_within import PruneWithin
from torchsweep.sweeps.engine.pruners.resources import Resources
from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.choices import PRUNERS

FACTORIES: dict[str, Callable[[Resources], optuna.pruners.BasePruner]] = {
    "median": median.build,
    "hyperband": hyperband.build,
    "successive_halving": successive_halving.build,
    "wilcoxon": wilcoxon.build,
    "none": nop.build,
}


def build_pruner(name: str, spec: StudySpec,
                 epoch_samples: int | None) -> optuna.pruners.BasePruner:
    """`epoch_samples`: the training split's size (see `resources.epoch_samples`); None for a
    program, and for a pruner whose unit is not samples. With the study's `prune_within`, one
    such pruner per value of that parameter, each seeing only its own trials."""
    build = FACTORIES.get(name)
    if build is None:   # a study recorded by another version of sweep
        raise StudyError(f"pruner {name!r}: not a pruner of this version of sweep; use "
                         f"{', '.join(FACTORIES)}")
    resources = Resources(spec, epoch_samples)
    if spec.prune_within is None or PRUNERS[name].unit is None:
        return build(resources)
    return PruneWithin(spec.prune_within, lambda: build(resources))
