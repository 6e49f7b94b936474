"""`fit(config) -> FitResult`: the training loop every run and every sweep trial goes through.

Per epoch: train on the training split, evaluate on the validation split (accuracy, loss and
calibration), step the schedule, append one line to `metrics.jsonl`, rewrite `last.pt`
(resume state) and `best.pt` when the monitored metric improved, then ask each callback
whether to go on. The validation split is also evaluated `evaluations_per_epoch` - 1 times
within each epoch (see `evaluations`), and evaluation callbacks hear every evaluation with
its step in samples seen. Callbacks are how sweeps prune a trial: the loop itself knows
nothing of Optuna.
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np
import torch

from torchsweep.trainer import checkpoint
from torchsweep.trainer.atomic import write_json_atomic, write_text_atomic
from torchsweep.trainer.config import EPOCH_METRICS, FIELDS, TrainConfig
from torchsweep.trainer.data import load_data, make_batches
from torchsweep.trainer.errors import ConfigError
from torchsweep.trainer.evaluations import EvaluationCallback, Evaluations, evaluate
from torchsweep.trainer.files import CONFIG, EVALUATIONS, METRICS
from torchsweep.trainer.goal import Goal
from torchsweep.trainer.models import build_model
from torchsweep.trainer.noise_scale import NoiseScale, backward_measured, small_batch
from torchsweep.trainer.optim import Schedule, build_loss, build_optimizer

# A callback sees the epoch's metrics (with `epoch`, 1-based) and returns True to stop.
EpochCallback = Callable[[dict[str, float]], "bool | None"]

# Settings that change where or how fast a run executes but not what it computes; a resumed
# run may differ from its checkpoint in these and nothing else.
EXECUTION_SETTINGS = ("device", "num_workers", "threads", "data_dir", "download", "loader")


@dataclass
class FitResult:
    status: str                    # completed | stopped (a callback asked) | diverged (loss not finite)
    config: TrainConfig
    monitor: str                   # the metric that picked the best epoch
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None  # 1-based
    out_dir: Path | None = None
    # Every evaluation's row, within epochs too (see `evaluations`): the curve on samples seen.
    evaluations: list[dict[str, float]] = field(default_factory=list)
    train_samples: int = 0         # the training split's size: samples in one epoch
    # The reliability diagram at the best epoch: per confidence bin, "count", "confidence" and
    # "accuracy" (None for an empty bin); lists, so never in a metrics row.
    best_reliability: dict[str, list] | None = None

    @property
    def grad_noise_scale(self) -> float | None:
        """The gradient noise scale (samples) at the last epoch; None when off or not known."""
        return (self.final or {}).get("grad_noise_scale")

    @property
    def samples_trained(self) -> int:
        """Training samples seen, the part of an epoch a callback stopped included."""
        return max((row["samples_seen"] for row in (*self.history[-1:], *self.evaluations[-1:])),
                   default=0)

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def best(self) -> dict[str, float] | None:
        return self.history[self.best_epoch - 1] if self.best_epoch else None

    @property
    def final(self) -> dict[str, float] | None:
        return self.history[-1] if self.history else None

    def to_dict(self) -> dict[str, Any]:
        paths = {}
        if self.out_dir is not None:
            paths = {**checkpoint.Checkpoints(self.out_dir).paths(),
                     **{name: str(self.out_dir / name)
                        for name in (METRICS, EVALUATIONS, CONFIG)}}
        return {"status": self.status, "epochs_run": self.epochs_run, "monitor": self.monitor,
                "best_epoch": self.best_epoch, "best": self.best, "final": self.final,
                "grad_noise_scale": self.grad_noise_scale,
                "best_reliability": self.best_reliability, "paths": paths}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{name} asked for, but no CUDA device is visible; "
                                    f"use device=cpu")
    return device


def fit(config: TrainConfig, *, out_dir: Path | None = None,
        callbacks: Iterable[EpochCallback] = (),
        evaluation_callbacks: Iterable[EvaluationCallback] = (), resume_from: Path | None = None,
        monitor: str = "val_acc", goal: Goal | str | None = None, progress: bool = False,
        before_write: Callable[[], None] | None = None) -> FitResult:
    """Train `config` for `config.epochs` epochs (or until a callback stops it).

    out_dir: where config.json, metrics.jsonl, evaluations.jsonl, last.pt and best.pt go
    (None writes nothing).
    callbacks: told each epoch's metrics; evaluation_callbacks: each evaluation's row, within
    epochs too (its `samples` is the step). Either stops the run by returning True.
    resume_from: a checkpoint to continue from, exactly where it left off.
    monitor/goal: the metric that picks the best epoch and `best.pt` (goal defaults to the
    metric's natural direction).
    before_write: called before each epoch's metrics and checkpoint are written; what it
    raises ends the run with nothing more written (a sweep's trial that another worker took
    over while this process was paused).
    """
    goal = Goal.from_name(goal) if goal else EPOCH_METRICS[monitor]
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    _seed_everything(config.seed)

    data = load_data(config)
    shuffle = torch.Generator().manual_seed(config.seed)
    train_batches, val_batches = make_batches(data, config, device, shuffle)
    model = build_model(config, data.input_shape, data.num_classes).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    forward = torch.compile(model) if config.compile else model
    optimizer = build_optimizer(config, model.parameters())
    schedule = Schedule(config, optimizer, len(train_batches))
    criterion = build_loss(config)
    amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[config.amp]
    if config.amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp", "fp16 autocast needs CUDA; use amp=bf16 or amp=off on the CPU")
    # Loss scaling keeps fp16 gradients from underflowing; bf16 has fp32's range and needs none.
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    noise = NoiseScale() if config.noise_scale_every else None

    result = FitResult(status="completed", config=config, monitor=monitor, out_dir=out_dir,
                       train_samples=len(data.train))
    if resume_from is not None:
        state = checkpoint.load_checkpoint(resume_from)
        _check_resumable(config, state["config"], resume_from)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        shuffle.set_state(state["shuffle"])
        checkpoint.restore_rng(state["rng"])
        result.history, result.best_epoch = list(state["history"]), state["best_epoch"]
        result.evaluations = list(state.get("evaluations", []))
        result.best_reliability = state.get("best_reliability")
        if noise is not None and state.get("noise_scale"):
            noise.load_state_dict(state["noise_scale"])

    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / CONFIG, config.to_dict())
        # Rewritten from the history so that a resumed run never repeats or loses a line.
        write_text_atomic(out_dir / METRICS, "".join(json.dumps(m) + "\n" for m in result.history))
        write_text_atomic(out_dir / EVALUATIONS,
                          "".join(json.dumps(m) + "\n" for m in result.evaluations))
    autocast = _autocast(device, amp_dtype)
    evaluations = Evaluations(
        result.train_samples, config.evaluations_per_epoch, forward,
        lambda: evaluate(forward, val_batches, criterion, device, autocast, memory_format),
        evaluation_callbacks, result.evaluations, out_dir / EVALUATIONS if out_dir else None)

    bar = _ProgressBar(config.epochs, len(result.history)) if progress else None
    try:
        for epoch in range(len(result.history) + 1, config.epochs + 1):
            started = time.perf_counter()
            # Running totals continue the history, so a resumed run counts on where it stopped:
            # steps, samples and seconds to reach a target are read off these columns.
            before = result.history[-1] if result.history else {}
            evaluations.start_epoch(epoch)

            def after_batch(seen: int, steps: int) -> bool:
                return evaluations.within(seen, lambda: {
                    "samples_seen": before.get("samples_seen", 0) + seen,
                    "steps": before.get("steps", 0) + steps,
                    "lr": optimizer.param_groups[0]["lr"],
                    "wall_seconds": (before.get("wall_seconds", 0.0)
                                     + time.perf_counter() - started)})

            trained = _train_epoch(forward, train_batches, optimizer, schedule, criterion,
                                   scaler, config, device, autocast, memory_format, noise,
                                   before.get("steps", 0), after_batch)
            if evaluations.stopped:   # a callback stopped the run within the epoch
                result.status = "stopped"
                break
            val, tally = evaluations.evaluate()
            lr = optimizer.param_groups[0]["lr"]
            if math.isfinite(val["val_loss"]):
                schedule.after_epoch(val["val_loss"])
            epoch_seconds = time.perf_counter() - started
            metrics = {"epoch": epoch, "train_loss": trained.loss, "train_acc": trained.acc,
                       **val, "lr": lr, "epoch_seconds": epoch_seconds,
                       # the evaluations within the epoch are not training time
                       "samples_per_second": trained.samples / (trained.seconds
                                                                - evaluations.seconds_within),
                       "steps": before.get("steps", 0) + trained.steps,
                       "samples_seen": before.get("samples_seen", 0) + trained.samples,
                       "wall_seconds": before.get("wall_seconds", 0.0) + epoch_seconds}
            if noise is not None and noise.value is not None:
                metrics["grad_noise_scale"] = noise.value
            result.history.append(metrics)
            if not math.isfinite(trained.loss):
                result.status = "diverged"
            elif checkpoint.improved(metrics[monitor], (result.best or {}).get(monitor), goal):
                result.best_epoch, result.best_reliability = epoch, tally.reliability()
            rows = evaluations.record_end(metrics)   # before the checkpoint, which keeps them
            if out_dir is not None:
                if before_write is not None:
                    before_write()
                with open(out_dir / METRICS, "a") as log:
                    log.write(json.dumps(metrics) + "\n")
                _save(out_dir, config, model, optimizer, schedule, scaler, shuffle, data, result,
                      noise)
            if bar is not None:
                bar.advance(metrics)
            if result.status == "diverged":
                break
            stop = any([bool(callback(dict(metrics))) for callback in callbacks])
            if evaluations.tell(rows) or stop:
                result.status = "stopped"
                break
    finally:
        if bar is not None:
            bar.close()
    return result


class _EpochTally(NamedTuple):
    loss: float
    acc: float
    seconds: float
    steps: int      # optimizer steps taken
    samples: int


def _train_epoch(model, batches, optimizer, schedule, criterion, scaler, config, device,
                 autocast, memory_format, noise: NoiseScale | None, steps_before: int,
                 after_batch: Callable[[int, int], bool]) -> _EpochTally:
    """One pass over `batches`; after_batch(samples, steps so far) returning True ends it.
    With `noise`, every config.noise_scale_every-th optimizer step (counted over the whole
    run, so a resumed run measures at the same steps) also measures the gradient noise scale;
    the step itself is unchanged."""
    model.train()
    parameters = list(model.parameters())
    started = time.perf_counter()
    # Sums stay on the device: reading them back every batch would stall a GPU.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = steps = 0
    for inputs, targets in batches:
        if memory_format is not torch.contiguous_format:
            inputs = inputs.to(memory_format=memory_format)
        small = 0
        if noise is not None and (steps_before + steps) % config.noise_scale_every == 0:
            small = small_batch(len(targets))
        with autocast():
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            small_loss = criterion(outputs[:small], targets[:small]) if small else None
        optimizer.zero_grad(set_to_none=True)
        if small:
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
        schedule.after_batch()
        loss_sum.add_(loss.detach().float(), alpha=len(targets))  # one kernel, not two
        correct += (outputs.argmax(1) == targets).sum()
        seen += len(targets)
        steps += 1
        if after_batch(seen, steps):
            break
    seconds = time.perf_counter() - started
    return _EpochTally(loss_sum.item() / seen, correct.item() / seen, seconds, steps, seen)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None):
    """A context factory: autocast when mixed precision is on, else a free no-op (entering a
    disabled torch.autocast still costs measurable time per batch on small models)."""
    if amp_dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=amp_dtype)


def _save(out_dir: Path, config: TrainConfig, model, optimizer, schedule, scaler, shuffle,
          data, result: FitResult, noise: NoiseScale | None) -> None:
    state = {"format_version": checkpoint.FORMAT_VERSION, "epoch": result.epochs_run,
             "config": config.to_dict(), "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
             "scaler": scaler.state_dict(), "shuffle": shuffle.get_state(),
             "rng": checkpoint.capture_rng(), "history": result.history,
             "evaluations": result.evaluations,
             "best_epoch": result.best_epoch, "monitor": result.monitor,
             "best_reliability": result.best_reliability,
             "noise_scale": noise.state_dict() if noise is not None else None,
             "input_shape": list(data.input_shape), "num_classes": data.num_classes}
    checkpoint.Checkpoints(out_dir).save(state)


def _check_resumable(config: TrainConfig, saved: dict, path: Path) -> None:
    for name, value in config.to_dict().items():
        # A setting newer than the checkpoint was trained with its default.
        if name not in EXECUTION_SETTINGS and saved.get(name, FIELDS[name].default) != value:
            raise checkpoint.CheckpointError(
                f"cannot resume from {path}: it was trained with {name}={saved.get(name)!r}, "
                f"this run has {name}={value!r}")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _ProgressBar:
    """A rich progress bar over epochs, for interactive terminals."""

    def __init__(self, epochs: int, done: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                                  TextColumn("{task.description}"), transient=True)
        self._task = self._progress.add_task("", total=epochs, completed=done)
        self._progress.start()

    def advance(self, metrics: dict[str, float]) -> None:
        self._progress.update(self._task, advance=1, description=(
            f"val_acc {metrics['val_acc']:.4f}  val_loss {metrics['val_loss']:.4f}"))

    def close(self) -> None:
        self._progress.stop()
