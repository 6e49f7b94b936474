"""A trainer stand-in that replays a table's learning curves instead of training.

`TableTrainer(task)` is called exactly as `trainer.loop.fit` is (RunOptions.trainer): it finds
the trial's configuration in the table, then walks its stored curve, telling each evaluation
to the evaluation callbacks (the sweep's pruner report, at `samples` = the step) and each
epoch's end to the epoch callbacks, and stops where a callback asks, as fit does. So the
sampler, the pruner, the queue and `prune_within` all run on sweep's own code path; only the
training is looked up. Nothing is written: `out_dir` is ignored.

A searched value between the table's grid points (lr drawn from a log-uniform range) is
snapped to the nearest grid value (on a log scale for a parameter whose grid spans a factor
of 10 or more): the table is a discretisation of the space the searcher sees.

`epochs_trained` counts the epochs this stand-in replayed in this process, pruned parts of
epochs included (what training them would have cost).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table import Table  # noqa: E402


class TableTrainer:
    def __init__(self, task: str, table: Table | None = None):
        self.task = task
        self.table = table or Table.load(task)
        self.epochs_trained = 0.0

    def __getstate__(self) -> dict:
        # Spawned workers load the table themselves: pickling it would copy every curve.
        return {"task": self.task, "epochs_trained": 0.0}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["task"])

    def params(self, config: Any) -> dict[str, Any]:
        """The grid point of a TrainConfig (or a mapping): each searched value snapped."""
        values = config if isinstance(config, dict) else config.to_dict()
        return {name: snap(values[name], grid) for name, grid in self.table.space.items()}

    def __call__(self, config: Any, *, out_dir: Path | None = None,
                 callbacks: Iterable[Callable[[dict], Any]] = (),
                 evaluation_callbacks: Iterable[Callable[[dict], Any]] = (),
                 resume_from: Path | None = None, monitor: str = "val_acc",
                 goal: Any = None, progress: bool = False,
                 before_write: Callable[[], None] | None = None) -> Any:
        from torchsweep.trainer.loop import FitResult

        if resume_from is not None:
            raise ValueError("the table stand-in cannot resume a checkpoint")
        table, row = self.table, self.table.row(self.params(config))
        per_epoch, n = table.per_epoch, table.samples_per_epoch
        result = FitResult(status="completed", config=config, monitor=monitor, out_dir=None,
                           train_samples=n)
        callbacks, evaluation_callbacks = list(callbacks), list(evaluation_callbacks)
        better = (lambda a, b: a > b) if table.goal == "maximize" else (lambda a, b: a < b)
        wall, curve = 0.0, row["curve"]
        for index, (step, value) in enumerate(zip(table.steps, curve)):
            evaluation = {"epoch": step / n, "samples": step, "samples_seen": step,
                          table.metric: value}
            result.evaluations.append(evaluation)
            if row.get("diverged") and index == len(curve) - 1:
                # fit stops at the end of the epoch whose loss diverged, telling no one
                result.history.append({"epoch": len(result.history) + 1, table.metric: value,
                                       "samples_seen": step})
                result.status = "diverged"
                break
            if any([callback(evaluation) for callback in evaluation_callbacks]):
                result.status = "stopped"
                break
            if (index + 1) % per_epoch:
                continue
            epoch = (index + 1) // per_epoch
            seconds = row["seconds"][epoch - 1]
            wall += seconds
            metrics = {"epoch": epoch, table.metric: value, "samples_seen": step,
                       "epoch_seconds": seconds, "wall_seconds": wall}
            result.history.append(metrics)
            if result.best_epoch is None or better(value, result.best[table.metric]):
                result.best_epoch = epoch
            if any([callback(metrics) for callback in callbacks]):
                result.status = "stopped"
                break
        self.epochs_trained += result.samples_trained / n
        return result


def snap(value: Any, grid: list) -> Any:
    """The grid value nearest `value` (log scale for a positive grid spanning 10x or more)."""
    if value in grid or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                for v in grid):
        return value
    logs = min(grid) > 0 and max(grid) >= 10 * min(grid)
    scale = math.log if logs else float
    return min(grid, key=lambda v: abs(scale(v) - scale(value)))
