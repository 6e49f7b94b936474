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

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from torchsweep.trainer import checkpoint
from torchsweep.trainer.atomic import write_json_atomic, write_text_atomic
from torchsweep.trainer.calibration import CalibrationTally
from torchsweep.trainer.config import EPOCH_METRICS, FIELDS, TrainConfig
from torchsweep.trainer.data import size
from torchsweep.trainer.errors import CheckpointError
from torchsweep.trainer.evaluations import EvaluationCallback, Evaluations, evaluate
from torchsweep.trainer.files import CONFIG, EVALUATIONS, METRICS
from torchsweep.trainer.goal import Goal
from torchsweep.trainer.training import Training, build, train_epoch

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
    best_reliability: dict[str, list[float]] | None = None

    @property
    def grad_noise_scale(self) -> float | None:
        """The gradient noise scale (samples) at the last epoch; None when off or not known."""
        return (self.final or {}).get("grad_noise_scale")

    @property
    def samples_trained(self) -> int:
        """Training samples seen, the part of an epoch a callback stopped included."""
        return max((int(row["samples_seen"]) for row in (*self.history[-1:], *self.evaluations[-1:])),
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
    aim = Goal.from_name(goal) if goal else EPOCH_METRICS[monitor]
    training = build(config)
    result = FitResult(status="completed", config=config, monitor=monitor, out_dir=out_dir,
                       train_samples=size(training.data.train))
    if resume_from is not None:
        _resume(training, result, resume_from)
    if out_dir is not None:
        out_dir = Path(out_dir)
        _start_files(out_dir, result)
    t = training
    evaluations = Evaluations(
        result.train_samples, config.evaluations_per_epoch, t.forward,
        lambda: evaluate(t.forward, t.val_batches, t.criterion, t.device, t.autocast,
                         t.memory_format),
        evaluation_callbacks, result.evaluations, out_dir / EVALUATIONS if out_dir else None)
    bar = _ProgressBar(config.epochs, len(result.history)) if progress else None
    try:
        for epoch in range(len(result.history) + 1, config.epochs + 1):
            ended = _epoch(training, evaluations, epoch, result.history)
            if ended is None:   # a callback stopped the run within the epoch
                result.status = "stopped"
                break
            metrics, tally = ended
            _record(result, metrics, tally, aim)
            rows = evaluations.record_end(metrics)   # before the checkpoint, which keeps them
            if out_dir is not None:
                if before_write is not None:
                    before_write()
                _write_epoch(out_dir, training, result, metrics)
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


def _epoch(training: Training, evaluations: Evaluations, epoch: int,
           history: list[dict[str, float]]) -> tuple[dict[str, float], CalibrationTally] | None:
    """Train one epoch and evaluate it: the epoch's metrics row and its calibration tally, or
    None when a callback stopped the run within it. Running totals continue the history, so
    a resumed run counts on where it stopped: steps, samples and seconds to reach a target
    are read off them."""
    started = time.perf_counter()
    before = history[-1] if history else {}
    optimizer = training.optimizer
    evaluations.start_epoch(epoch)

    def after_batch(seen: int, steps: int) -> bool:
        return evaluations.within(seen, lambda: {
            "samples_seen": before.get("samples_seen", 0) + seen,
            "steps": before.get("steps", 0) + steps,
            "lr": optimizer.param_groups[0]["lr"],
            "wall_seconds": before.get("wall_seconds", 0.0) + time.perf_counter() - started})

    trained = train_epoch(training, int(before.get("steps", 0)), after_batch)
    if evaluations.stopped:
        return None
    val, tally = evaluations.evaluate()
    lr = optimizer.param_groups[0]["lr"]
    if math.isfinite(val["val_loss"]):
        training.schedule.after_epoch(val["val_loss"])
    epoch_seconds = time.perf_counter() - started
    metrics = {"epoch": epoch, "train_loss": trained.loss, "train_acc": trained.acc,
               **val, "lr": lr, "epoch_seconds": epoch_seconds,
               # the evaluations within the epoch are not training time
               "samples_per_second": trained.samples / (trained.seconds
                                                        - evaluations.seconds_within),
               "steps": before.get("steps", 0) + trained.steps,
               "samples_seen": before.get("samples_seen", 0) + trained.samples,
               "wall_seconds": before.get("wall_seconds", 0.0) + epoch_seconds}
    noise = training.noise
    if noise is not None and noise.value is not None:
        metrics["grad_noise_scale"] = noise.value
    return metrics, tally


def _record(result: FitResult, metrics: dict[str, float], tally: CalibrationTally,
            aim: Goal) -> None:
    """The epoch joins the history: a diverged loss ends the run, a better metric is the best
    epoch (`best.pt`)."""
    result.history.append(metrics)
    if not math.isfinite(metrics["train_loss"]):
        result.status = "diverged"
    elif checkpoint.improved(metrics[result.monitor], (result.best or {}).get(result.monitor),
                             aim):
        result.best_epoch = result.epochs_run
        result.best_reliability = tally.reliability()


def _resume(training: Training, result: FitResult, path: Path) -> None:
    """Continue from a checkpoint exactly where it left off: every state and the history."""
    state = checkpoint.load_checkpoint(path)
    _check_resumable(training.config, state["config"], path)
    training.model.load_state_dict(state["model"])
    training.optimizer.load_state_dict(state["optimizer"])
    training.schedule.load_state_dict(state["schedule"])
    training.scaler.load_state_dict(state["scaler"])
    training.shuffle.set_state(state["shuffle"])
    checkpoint.restore_rng(state["rng"])
    result.history, result.best_epoch = list(state["history"]), state["best_epoch"]
    result.evaluations = list(state.get("evaluations", []))
    result.best_reliability = state.get("best_reliability")
    if training.noise is not None and state.get("noise_scale"):
        training.noise.load_state_dict(state["noise_scale"])


def _start_files(out_dir: Path, result: FitResult) -> None:
    """config.json, and the logs rewritten from the history, so that a resumed run never
    repeats or loses a line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / CONFIG, result.config.to_dict())
    write_text_atomic(out_dir / METRICS, "".join(json.dumps(m) + "\n" for m in result.history))
    write_text_atomic(out_dir / EVALUATIONS,
                      "".join(json.dumps(m) + "\n" for m in result.evaluations))


def _write_epoch(out_dir: Path, training: Training, result: FitResult,
                 metrics: dict[str, float]) -> None:
    """The epoch's line in metrics.jsonl, then last.pt (and best.pt when it improved)."""
    with open(out_dir / METRICS, "a") as log:
        log.write(json.dumps(metrics) + "\n")
    t = training
    state = {"format_version": checkpoint.FORMAT_VERSION, "epoch": result.epochs_run,
             "config": t.config.to_dict(), "model": t.model.state_dict(),
             "optimizer": t.optimizer.state_dict(), "schedule": t.schedule.state_dict(),
             "scaler": t.scaler.state_dict(), "shuffle": t.shuffle.get_state(),
             "rng": checkpoint.capture_rng(), "history": result.history,
             "evaluations": result.evaluations,
             "best_epoch": result.best_epoch, "monitor": result.monitor,
             "best_reliability": result.best_reliability,
             "noise_scale": t.noise.state_dict() if t.noise is not None else None,
             "input_shape": list(t.data.input_shape), "num_classes": t.data.num_classes}
    checkpoint.Checkpoints(out_dir).save(state)


def _check_resumable(config: TrainConfig, saved: dict[str, Any], path: Path) -> None:
    for name, value in config.to_dict().items():
        # A setting newer than the checkpoint was trained with its default.
        if name not in EXECUTION_SETTINGS and saved.get(name, FIELDS[name].default) != value:
            raise CheckpointError(
                f"cannot resume from {path}: it was trained with {name}={saved.get(name)!r}, "
                f"this run has {name}={value!r}")


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
