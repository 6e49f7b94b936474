"""Validation passes within and at the end of every epoch, at fixed shares of the data.

A sweep's pruner compares trials at equal steps. With the step counted in samples seen, a
batch-16 and a batch-1024 trial are compared after the same amount of data rather than after
the same number of epochs. `evaluations_per_epoch` = E sets the positions: after k/E of the
training split (k = 1..E, rounded to a sample), in every epoch. The same positions hold for
every batch size: a pass runs once the running count of samples crosses a position, and is
reported at the position itself (the nominal step), so every trial has a value at every step
the pruner reads. A batch that crosses two positions at once gives both the same evaluation.

Each position gives one row, appended to `evaluations.jsonl` and kept in the checkpoint, so
that a resumed run rewrites the file as a straight run wrote it:

    epoch        the nominal position in epochs (1.25 = a quarter into the second epoch)
    samples      the nominal position in samples: the step every callback and pruner sees
    samples_seen the samples actually trained on when the pass ran (>= samples within an
                 epoch; the last batch may overshoot, drop_last may fall short at its end)
    steps, lr, wall_seconds and the validation metrics at that moment; the row at an epoch's
    end carries the whole epoch's metrics.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterable

import torch

from torchsweep.trainer.calibration import CalibrationTally

# A callback sees an evaluation row (see above) and returns True to stop training there.
EvaluationCallback = Callable[[dict[str, float]], "bool | None"]


def positions(train_samples: int, per_epoch: int) -> list[int]:
    """Where in an epoch the passes fall, in samples: k/E of the split, the last at its end.
    A split smaller than E samples has fewer (distinct) positions."""
    return sorted({max(1, round(k * train_samples / per_epoch)) for k in range(1, per_epoch + 1)})


class Evaluations:
    """One run's evaluation schedule, its rows so far, and the callbacks it tells."""

    def __init__(self, train_samples: int, per_epoch: int, model: torch.nn.Module,
                 evaluate: Callable[[], tuple[dict, CalibrationTally]], callbacks: Iterable[EvaluationCallback],
                 rows: list[dict], log: Path | None):
        self.train_samples = train_samples
        self._model = model
        self._positions = positions(train_samples, per_epoch)
        self.evaluate = evaluate
        self._callbacks = list(callbacks)
        self.rows = rows
        self._log = log
        self._pending: list[int] = []
        self._epoch_start = 0
        self.seconds_within = 0.0   # spent on passes inside this epoch: not training time
        self.stopped = False        # a callback asked to stop within an epoch

    def start_epoch(self, epoch: int) -> None:
        self._epoch_start = (epoch - 1) * self.train_samples
        self._pending = list(self._positions)
        self.seconds_within = 0.0

    def within(self, seen: int, running: Callable[[], dict[str, float]]) -> bool:
        """After a batch, `seen` samples into the epoch: evaluate if a position was crossed
        (not the epoch's end, which `at_end` reports with the epoch's metrics). `running`
        gives the totals so far (samples_seen, steps, lr, wall_seconds). True: stop here."""
        due = [p for p in self._pending[:-1] if p <= seen]
        if not due:
            return False
        started = time.perf_counter()
        metrics = {**running(), **self.evaluate()[0]}
        self._model.train()   # back to training for the rest of the epoch
        self.seconds_within += time.perf_counter() - started
        del self._pending[:len(due)]
        self.stopped = self.tell(self.record(due, metrics))
        return self.stopped

    def record_end(self, metrics: dict[str, float]) -> list[dict]:
        """Rows for the epoch's end (and any position its last batches never crossed, under
        drop_last), from the epoch's metrics; told to the callbacks by `tell`."""
        due, self._pending = self._pending, []
        return self.record(due, metrics)

    def record(self, due: list[int], metrics: dict[str, float]) -> list[dict]:
        rows = []
        for position in due:
            samples = self._epoch_start + position
            rows.append({**metrics, "epoch": round(samples / self.train_samples, 6),
                         "samples": samples})
        self.rows.extend(rows)
        if self._log is not None:
            with open(self._log, "a") as log:
                log.writelines(json.dumps(row) + "\n" for row in rows)
        return rows

    def tell(self, rows: list[dict]) -> bool:
        """Every callback hears every row (also after one asked to stop); True: stop."""
        stop = False
        for row in rows:
            stop = any([bool(callback(dict(row))) for callback in self._callbacks]) or stop
        return stop


@torch.no_grad()
def evaluate(model, batches, criterion, device, autocast,
             memory_format) -> tuple[dict[str, float], CalibrationTally]:
    """Validation loss, accuracy and calibration of `model` over `batches`, and the tally the
    calibration came from (its reliability diagram)."""
    model.eval()
    calibration = CalibrationTally(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for inputs, targets in batches:
        with autocast():
            outputs = model(inputs.to(memory_format=memory_format))
            loss = criterion(outputs, targets)
        loss_sum += loss.float() * len(targets)
        correct += (outputs.argmax(1) == targets).sum()
        calibration.add(outputs, targets)
        seen += len(targets)
    summary = calibration.summary()
    return {"val_loss": loss_sum.item() / seen, "val_acc": correct.item() / seen,
            "val_nll": summary["nll"], "val_ece": summary["ece"],
            "val_overconfidence": summary["overconfidence"],
            "val_ece_tempered": summary["ece_tempered"],
            "val_temperature": summary["temperature"]}, calibration
