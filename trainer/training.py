"""What the loop trains with, built once (`build`), and one pass over the training split
(`train_epoch`): the two steps of `loop.fit` that touch the model, as nanoGPT's loop keeps its
model, optimizer and scaler side by side and its step reads top to bottom.

Everything a run builds from its config is in `Training`, in the order it is built: the seeds
are set first and the model is initialised after the data is split, so that a run and its
resumed twin draw the same numbers.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable, NamedTuple, cast

import numpy as np
import torch
from torch import nn

from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.data import Batches, Data, load_data, make_batches
from torchsweep.trainer.errors import ConfigError
from torchsweep.trainer.models import build_model
from torchsweep.trainer.noise_scale import NoiseScale, backward_measured, small_batch
from torchsweep.trainer.optim import Schedule, build_loss, build_optimizer

# A context factory: autocast, or a no-op when mixed precision is off.
Autocast = Callable[[], AbstractContextManager[object]]


@dataclass
class Training:
    """A run's data, model and optimisation state; `fit` saves and restores the stateful ones
    (model, optimizer, schedule, scaler, shuffle, noise)."""
    config: TrainConfig
    device: torch.device
    data: Data
    shuffle: torch.Generator      # the training order, reshuffled each epoch from it only
    train_batches: Batches
    val_batches: Batches
    model: nn.Module
    forward: nn.Module            # the model, compiled when config.compile
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    criterion: nn.Module
    scaler: torch.amp.GradScaler
    noise: NoiseScale | None      # the gradient noise scale, when config.noise_scale_every
    memory_format: torch.memory_format
    autocast: Autocast


class EpochTally(NamedTuple):
    loss: float
    acc: float
    seconds: float
    steps: int      # optimizer steps taken
    samples: int


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{name} asked for, but no CUDA device is visible; "
                                    f"use device=cpu")
    return device


def build(config: TrainConfig) -> Training:
    """Seed, load and split the data, build the model, its optimizer, schedule and loss."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    _seed_everything(config.seed)
    data = load_data(config)
    shuffle = torch.Generator().manual_seed(config.seed)
    train_batches, val_batches = make_batches(data, config, device, shuffle)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = build_model(config, data.input_shape, data.num_classes).to(device)
    model = model.to(memory_format=memory_format)
    optimizer = build_optimizer(config, model.parameters())
    amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[config.amp]
    if config.amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp", "fp16 autocast needs CUDA; use amp=bf16 or amp=off on the CPU")
    return Training(
        config=config, device=device, data=data, shuffle=shuffle,
        train_batches=train_batches, val_batches=val_batches, model=model,
        # torch.compile wraps a module in a module (OptimizedModule); its stubs say a callable.
        forward=cast(nn.Module, torch.compile(model)) if config.compile else model,
        optimizer=optimizer, schedule=Schedule(config, optimizer, len(train_batches)),
        criterion=build_loss(config),
        # Loss scaling keeps fp16 gradients from underflowing; bf16 has fp32's range.
        scaler=torch.amp.GradScaler(device.type, enabled=config.amp == "fp16"),
        noise=NoiseScale() if config.noise_scale_every else None,
        memory_format=memory_format, autocast=_autocast(device, amp_dtype))


def train_epoch(training: Training, steps_before: int,
                after_batch: Callable[[int, int], bool]) -> EpochTally:
    """One pass over the training batches; after_batch(samples, steps so far) returning True
    ends it. With a noise scale, every config.noise_scale_every-th optimizer step (counted
    over the whole run, so a resumed run measures at the same steps) also measures the
    gradient noise scale; the step itself is unchanged."""
    t, config = training, training.config
    model, optimizer, scaler, noise = t.forward, t.optimizer, t.scaler, t.noise
    model.train()
    parameters = list(model.parameters())
    started = time.perf_counter()
    # Sums stay on the device: reading them back every batch would stall a GPU.
    loss_sum = torch.zeros((), device=t.device)
    correct = torch.zeros((), device=t.device, dtype=torch.long)
    seen = steps = 0
    for inputs, targets in t.train_batches:
        if t.memory_format is not torch.contiguous_format:
            inputs = inputs.to(memory_format=t.memory_format)
        small = 0
        if noise is not None and (steps_before + steps) % config.noise_scale_every == 0:
            small = small_batch(len(targets))
        with t.autocast():
            outputs = model(inputs)
            loss = t.criterion(outputs, targets)
            small_loss = t.criterion(outputs[:small], targets[:small]) if small else None
        optimizer.zero_grad(set_to_none=True)
        if noise is not None and small:
            # Measured before clipping and unscaling: the noise scale is the raw gradient's.
            small_sq, big_sq = backward_measured(loss, small_loss, parameters, scaler.scale,
                                                 scaler.get_scale())
            if math.isfinite(small_sq) and math.isfinite(big_sq):  # fp16 overflow: skipped
                noise.add(small_sq, small, big_sq, len(targets))
        elif scaler.is_enabled():
            scaler.scale(loss).backward()
        else:
            loss.backward()
        if scaler.is_enabled():
            if config.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:  # the common case, without the scaler's per-step bookkeeping
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
        t.schedule.after_batch()
        loss_sum.add_(loss.detach().float(), alpha=len(targets))  # one kernel, not two
        correct += (outputs.argmax(1) == targets).sum()
        seen += len(targets)
        steps += 1
        if after_batch(seen, steps):
            break
    seconds = time.perf_counter() - started
    return EpochTally(loss_sum.item() / seen, correct.item() / seen, seconds, steps, seen)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None) -> Autocast:
    """Autocast when mixed precision is on, else a free no-op (entering a disabled
    torch.autocast still costs measurable time per batch on small models)."""
    if amp_dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=amp_dtype)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
