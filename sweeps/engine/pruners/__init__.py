"""The pruners a study can name, built from Optuna's own, with their steps in samples seen.

The trainer reports each trial at fixed positions in samples seen (`evaluations_per_epoch` of
them per epoch, the same for every batch size; see trainer.evaluations), so a pruner compares
trials after equal data, not after equal epochs: an epoch of batch 16 is 64 times the steps of
an epoch of batch 1024. Resources are therefore samples (`resources`): a study's
`early_terminate.min_iter` keeps W&B's meaning, epochs (the trainer's iterations), and is
multiplied by the training split's size; hyperband's maximum is the study's most epochs in
samples. A user's program reports its own steps, which are used as they are.

One module per pruner, named as `study.choices.PRUNERS` names it, each with
`build(resources)` (`registry` finds it by that name), and `prune_within` runs any of them per
value of a parameter.
"""
from torchsweep.sweeps.engine.pruners.median import MEDIAN_STARTUP_TRIALS, MEDIAN_WARMUP_EPOCHS
from torchsweep.sweeps.engine.pruners.prune_within import PruneWithin
from torchsweep.sweeps.engine.pruners.registry import build_pruner
from torchsweep.sweeps.engine.pruners.resources import Resources, epoch_samples, most_epochs

__all__ = ["MEDIAN_STARTUP_TRIALS", "MEDIAN_WARMUP_EPOCHS", "PruneWithin",
           "Resources", "build_pruner", "epoch_samples", "most_epochs"]
