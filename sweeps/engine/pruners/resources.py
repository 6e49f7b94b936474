"""What a pruner is sized by: the study's `early_terminate`, and how many steps an epoch is."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.parameter import reach
from torchsweep.sweeps.study.early_terminate import HYPERBAND_ETA
from torchsweep.trainer.config import TrainConfig, train_split_size

# Settings that change the training split's size, which every trial must share.
_SPLIT_SETTINGS = ("dataset", "val_fraction", "num_samples")


@dataclass(frozen=True)
class Resources:
    spec: StudySpec
    # The training split's size (see `epoch_samples`); None for a program, whose steps are its
    # own, and for a pruner that does not count samples.
    epoch_samples: int | None

    @property
    def per_epoch(self) -> int:
        """Steps in an epoch: samples for the trainer, 1 for a program's own steps."""
        return self.epoch_samples or 1

    @property
    def min_resource(self) -> int:
        """The first rung: early_terminate's min_iter epochs (1 without one), in steps."""
        min_iter: float = (self.spec.early_terminate or {}).get("min_iter", 1)
        return max(1, round(min_iter * self.per_epoch))

    @property
    def reduction_factor(self) -> int:
        """early_terminate's eta, for Optuna's pruners, which take a whole one."""
        eta = (self.spec.early_terminate or {}).get("eta", HYPERBAND_ETA)
        if not isinstance(eta, int):
            raise SpaceError(f"early_terminate.eta: {eta} is fractional, and Optuna's hyperband "
                             f"and successive_halving pruners take a whole eta; leave the "
                             f"pruner out (W&B's own bands run it: wandb_hyperband), or give a "
                             f"whole eta")
        return eta


def epoch_samples(spec: StudySpec, overrides: Mapping[str, Any]) -> int | None:
    """Training samples per epoch, the unit of the trainer's pruning steps; None for a
    program. Built-in datasets are counted without loading them, others are loaded once. A
    study that searches the split (dataset, val_fraction, num_samples) is counted at the first
    value of each: its trials' steps are still samples, but their epochs differ in size."""
    if spec.own_code:
        return None
    first = {name: reach(spec.space.parameters[name], name)[0][0] for name in _SPLIT_SETTINGS
             if name in spec.space.parameters and name not in spec.space.constants()}
    config = TrainConfig.from_dict({**spec.space.constants(), **first, **overrides})
    size = train_split_size(config)
    if size is None:
        from torchsweep.trainer.data import load_data, size as samples

        size = samples(load_data(config).train)
    return size


def most_epochs(spec: StudySpec) -> int:
    """The most epochs any trial of the study trains."""
    epochs = spec.space.parameters.get("epochs")
    if epochs is None:
        return TrainConfig().epochs
    return int(max(value for value, _ in reach(epochs, "epochs")))
