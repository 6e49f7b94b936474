"""The pruner a study's settings name, built from Optuna's own, with its steps in samples seen.

The trainer reports each trial at fixed positions in samples seen (`evaluations_per_epoch` of
them per epoch, the same for every batch size; see trainer.evaluations), so a pruner compares
trials after equal data, not after equal epochs: an epoch of batch 16 is 64 times the steps of
an epoch of batch 1024. Resources are therefore samples: a study's `early_terminate.min_iter`
keeps W&B's meaning, epochs (the trainer's iterations), and is multiplied by the training
split's size; hyperband's maximum is the study's most epochs in samples. A user's program
reports its own steps, which are used as they are.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping

import optuna
from optuna.trial import FrozenTrial

from torchsweep.sweeps.engine import _optuna
from torchsweep.sweeps.engine.repeats import WILCOXON_P
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.parameter import reach
from torchsweep.trainer.config import TrainConfig, train_split_size

# The median pruner's defaults. The first trials set the median; the first epochs of any trial
# are too noisy to judge.
MEDIAN_STARTUP_TRIALS = 3
MEDIAN_WARMUP_EPOCHS = 2     # in a program's own steps for a program
# Settings that change the training split's size, which every trial must share.
_SPLIT_SETTINGS = ("dataset", "val_fraction", "num_samples")


def build_pruner(name: str, spec: StudySpec,
                 epoch_samples: int | None) -> optuna.pruners.BasePruner:
    """`epoch_samples`: the training split's size (see `epoch_samples`); None for a program,
    and for wilcoxon, whose steps are a trial's seeds. With the study's `prune_within`, one
    such pruner per value of that parameter, each seeing only its own trials."""
    if spec.prune_within is None or name == "none":
        return _pruner(name, spec, epoch_samples)
    return PruneWithin(spec.prune_within, lambda: _pruner(name, spec, epoch_samples))


class PruneWithin(optuna.pruners.BasePruner):
    """Prunes a trial against the trials that share its value of one parameter only. In a
    batch-size study a pruner over all trials compares batch sizes at equal samples seen,
    where the small ones are ahead early, and cuts the large ones before they reach the target:
    the study then cannot say how steps to the target fall with batch size. Within a batch
    size, it still cuts the learning rates that fall behind."""

    def __init__(self, parameter: str, make: Callable[[], optuna.pruners.BasePruner]):
        self.parameter, self._make = parameter, make
        self._pruners: dict[Any, optuna.pruners.BasePruner] = {}   # Hyperband keeps state

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        value = trial.params.get(self.parameter)
        if value not in self._pruners:
            self._pruners[value] = self._make()
        peers = _optuna.study_of(study, lambda t: t.params.get(self.parameter) == value)
        return self._pruners[value].prune(peers, trial)


def _pruner(name: str, spec: StudySpec, epoch_samples: int | None) -> optuna.pruners.BasePruner:
    pruners = optuna.pruners
    unit = epoch_samples or 1
    hyperband = spec.early_terminate or {}
    min_resource = max(1, round(hyperband.get("min_iter", 1) * unit))
    if name == "hyperband":
        most = "auto" if epoch_samples is None else most_epochs(spec) * epoch_samples
        return pruners.HyperbandPruner(
            min_resource=min_resource if most == "auto" else min(min_resource, most),
            max_resource=most, reduction_factor=hyperband.get("eta", 3))
    if name == "successive_halving":
        return pruners.SuccessiveHalvingPruner(min_resource=min_resource,
                                               reduction_factor=hyperband.get("eta", 3))
    if name == "none":
        return pruners.NopPruner()
    if name == "wilcoxon":   # a study with repeats: seed k of a trial against the best's seed k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return pruners.WilcoxonPruner(p_threshold=WILCOXON_P)
    return pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                n_warmup_steps=MEDIAN_WARMUP_EPOCHS * unit)


def epoch_samples(spec: StudySpec, overrides: Mapping[str, Any]) -> int | None:
    """Training samples per epoch, the unit of the trainer's pruning steps; None for a
    program. Built-in datasets are counted without loading them, others are loaded once. A
    study that searches the split (dataset, val_fraction, num_samples) is counted at the first
    value of each: its trials' steps are still samples, but their epochs differ in size."""
    if spec.runs_program:
        return None
    first = {name: reach(spec.space.parameters[name], name)[0][0] for name in _SPLIT_SETTINGS
             if name in spec.space.parameters and name not in spec.space.constants()}
    config = TrainConfig.from_dict({**spec.space.constants(), **first, **overrides})
    size = train_split_size(config)
    if size is None:
        from torchsweep.trainer.data import load_data

        size = len(load_data(config).train)
    return size


def most_epochs(spec: StudySpec) -> int:
    """The most epochs any trial of the study trains."""
    epochs = spec.space.parameters.get("epochs")
    if epochs is None:
        return TrainConfig().epochs
    return int(max(value for value, _ in reach(epochs, "epochs")))
