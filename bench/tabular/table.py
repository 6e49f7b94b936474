"""A tabular learning-curve benchmark: every configuration of a discretised space, trained once
with our trainer, with every evaluation's metric kept, so that a searcher can be replayed
against it in seconds (bench/tabular/standin.py) instead of training.

One table per task, `bench/tabular/tables/<task>.json.gz`, a gzipped JSON object:

    task               the task's name (bench/tabular/tasks.py)
    metric, goal       "val_acc", "maximize"
    epochs             E, the epochs every configuration trained for
    samples_per_epoch  N, the training split's size
    steps              the evaluation positions in samples seen, shared by every configuration:
                       `evaluations_per_epoch` per epoch, k/K of the split (the nominal step
                       the trainer reports to the pruner, trainer/evaluations.py), so
                       [N/2, N, 3N/2, ..., E*N] with 2 per epoch
    space              {name: [values...]}: the grid, each parameter's values in order
    fixed              the settings every configuration shares (dataset, model, epochs, ...)
    configs            [{"params": {name: value}, "curve": [metric at each step],
                         "seconds": [wall seconds of each epoch], "diverged": true (only
                         where the loss diverged)}]

Curves are stored on samples seen, as the pruner sees them: `curve[i]` is the metric at
`steps[i]` samples. A diverged configuration's curve ends with the epoch whose loss was not
finite, where the trainer stopped it (that epoch's end is neither reported to the pruner nor a
best). The value at the end
of epoch e is `curve[e * per_epoch - 1]` (see `Table.epoch_curve`).
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

TABLES = Path(__file__).resolve().parent / "tables"
# Searched as a user writes the space (a range, not the table's grid points); the stand-in
# snaps each draw to the nearest grid value. The rest are searched as their grid's choices.
RANGES = {"lr": "log_uniform_values"}


def key(space: dict[str, list], params: dict[str, Any]) -> tuple:
    """The configuration's place in the grid: its values in the space's order, floats rounded
    so that 0.1 read back from JSON or a study's storage finds the same row."""
    return tuple(_norm(params[name]) for name in space)


def _norm(value: Any) -> Any:
    return round(float(value), 12) if isinstance(value, float) else value


@dataclass
class Table:
    task: str
    metric: str
    goal: str
    epochs: int
    samples_per_epoch: int
    steps: list[int]
    space: dict[str, list]
    fixed: dict[str, Any]
    configs: list[dict[str, Any]]

    def __post_init__(self) -> None:
        self._rows = {key(self.space, c["params"]): c for c in self.configs}

    @classmethod
    def load(cls, task: str, folder: Path = TABLES) -> "Table":
        return cls.read(folder / f"{task}.json.gz")

    @classmethod
    def read(cls, path: Path) -> "Table":
        with gzip.open(path, "rt") as f:
            return cls(**json.load(f))

    def write(self, path: Path | None = None) -> Path:
        path = path or TABLES / f"{self.task}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {name: getattr(self, name) for name in (
            "task", "metric", "goal", "epochs", "samples_per_epoch", "steps", "space", "fixed",
            "configs")}
        # No name, mtime=0: the same table gives the same bytes, so a rebuild shows no diff
        with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb",
                                                      mtime=0) as f:
            f.write(json.dumps(body, separators=(",", ":")).encode())
        return path

    @property
    def per_epoch(self) -> int:
        """Evaluations per epoch."""
        return len(self.steps) // self.epochs

    def row(self, params: dict[str, Any]) -> dict[str, Any]:
        """The configuration's stored row; KeyError names a configuration not in the grid."""
        return self._rows[key(self.space, params)]

    def curve(self, params: dict[str, Any]) -> list[float]:
        """The metric at each of `steps` (shorter if the configuration diverged)."""
        return self.row(params)["curve"]

    def epoch_curve(self, params: dict[str, Any]) -> list[float]:
        """The metric at the end of each epoch."""
        return self.curve(params)[self.per_epoch - 1::self.per_epoch]

    def best(self, params: dict[str, Any]) -> float:
        """The configuration's best value over its whole curve (what a trial trained to the
        end reports as its value)."""
        curve = self.epoch_curve(params)
        pick = max if self.goal == "maximize" else min
        return pick(curve) if curve else float("nan")

    def search_parameters(self) -> dict[str, Any]:
        """The `parameters:` block of a study file searching this table as a user would: the
        fixed settings, each ranged parameter as a distribution over its grid's span, the
        others as their grid's choices."""
        blocks = {name: {"value": value} for name, value in self.fixed.items()}
        for name, values in self.space.items():
            blocks[name] = ({"distribution": RANGES[name], "min": min(values),
                             "max": max(values)} if name in RANGES else {"values": list(values)})
        return blocks

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.configs)

    def __len__(self) -> int:
        return len(self.configs)


def synthetic(task: str = "synthetic", epochs: int = 4, per_epoch: int = 2) -> Table:
    """A small made-up table for tests and development: 3 x 3 x 2 configurations whose curves
    rise towards a ceiling set by how far lr is from its best value, adam at lr 0.1 diverging
    in its second epoch. Shaped as the digits
    (their training split's size), so that sweep's pruner counts its epochs right."""
    samples_per_epoch = 1437
    space = {"lr": [0.001, 0.01, 0.1], "batch_size": [16, 32, 64], "optimizer": ["sgd", "adam"]}
    steps = [round(k * samples_per_epoch / per_epoch) for k in range(1, epochs * per_epoch + 1)]
    configs = []
    for lr in space["lr"]:
        for batch_size in space["batch_size"]:
            for optimizer in space["optimizer"]:
                ceiling = 0.95 - 0.1 * abs(space["lr"].index(lr) - 1) - batch_size / 1000 \
                          - (0.02 if optimizer == "sgd" else 0.0)
                curve = [round(ceiling * (1 - 0.5 ** (i + 1)), 4) for i in range(len(steps))]
                row = {"params": {"lr": lr, "batch_size": batch_size, "optimizer": optimizer},
                       "curve": curve, "seconds": [0.1] * epochs}
                if lr == 0.1 and optimizer == "adam":   # diverges in its second epoch
                    row.update(curve=curve[:2 * per_epoch], seconds=[0.1] * 2, diverged=True)
                configs.append(row)
    return Table(task=task, metric="val_acc", goal="maximize", epochs=epochs,
                 samples_per_epoch=samples_per_epoch, steps=steps, space=space,
                 fixed={"dataset": "digits", "epochs": epochs,
                        "evaluations_per_epoch": per_epoch}, configs=configs)
