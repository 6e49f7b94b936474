"""Loss, optimizers and learning-rate schedules, each built from the training config.

Cadence matters: warmup and onecycle change the learning rate after every batch, the other
schedules after every epoch. `Schedule` hides that from the loop: it calls `after_batch()` and
`after_epoch(val_loss)` and the schedule steps the right one.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim import lr_scheduler

from torchsweep.trainer.config import TrainConfig

# Warmup starts from lr/100: small enough to tame the first steps, large enough to move.
WARMUP_START_FACTOR = 0.01


def build_loss(config: TrainConfig) -> nn.Module:
    # Label smoothing: the target is (1 - eps) on the true class plus eps spread evenly over
    # all classes, which keeps the model from becoming over-confident.
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def build_optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    lr = config.effective_lr
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2),
                                weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, betas=(config.beta1, config.beta2),
                                 weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, momentum=config.momentum,
                                   weight_decay=config.weight_decay)
    return torch.optim.Rprop(parameters, lr=lr)


class Schedule:
    """Warmup (per batch) followed by the configured schedule (per batch for onecycle)."""

    def __init__(self, config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        self.name = config.scheduler
        self.warmup_steps = config.warmup_epochs * steps_per_epoch
        self.steps_taken = 0
        self.main = _build_main(config, optimizer, steps_per_epoch)
        # Built last so that it scales the lr the main schedule starts from.
        self.warmup = lr_scheduler.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR,
                                            total_iters=self.warmup_steps) \
            if self.warmup_steps else None

    def after_batch(self) -> None:
        self.steps_taken += 1
        if self.warmup is not None and self.steps_taken <= self.warmup_steps:
            self.warmup.step()
        elif self.name == "onecycle":
            self.main.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.steps_taken <= self.warmup_steps or self.name == "onecycle":
            return
        if self.name == "plateau":
            self.main.step(val_loss)
        elif self.main is not None:
            self.main.step()

    def state_dict(self) -> dict:
        return {"steps_taken": self.steps_taken,
                "main": self.main.state_dict() if self.main is not None else None,
                "warmup": self.warmup.state_dict() if self.warmup is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.steps_taken = state["steps_taken"]
        if self.main is not None:
            self.main.load_state_dict(state["main"])
        if self.warmup is not None:
            self.warmup.load_state_dict(state["warmup"])


def _build_main(config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    epochs_after_warmup = config.epochs - config.warmup_epochs
    if config.scheduler == "constant":
        return None
    if config.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.scheduler == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=config.gamma)
    if config.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs_after_warmup)
    if config.scheduler == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=config.gamma,
                                              patience=config.patience)
    # onecycle steps once per batch; steps_per_epoch already reflects drop_last, so the
    # schedule ends exactly on the last batch of the last epoch.
    cycle_momentum = config.optimizer in ("adam", "adamw") or config.momentum > 0
    return lr_scheduler.OneCycleLR(optimizer, max_lr=config.effective_lr,
                                   total_steps=config.epochs * steps_per_epoch,
                                   cycle_momentum=cycle_momentum)

