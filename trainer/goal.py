"""Which way a metric is better: `Goal.MAXIMIZE` or `Goal.MINIMIZE`.

Optuna has the same idea (`StudyDirection`), but the trainer imports no Optuna, and every
layer above it compares values by a study's goal: the best epoch, the best trial, a target
reached, a plot's ranking. So each comparison is asked of the goal, never of its name. Study
files, JSON and W&B say `maximize` / `minimize` (W&B's schema): `Goal.from_name` reads those
words, `goal.value` writes them.
"""
from __future__ import annotations

import math
from enum import Enum
from typing import Any, Callable, Iterable, TypeVar

from torchsweep.trainer.errors import ConfigError

T = TypeVar("T")


class Goal(Enum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    @classmethod
    def from_name(cls, name: str | Goal) -> Goal:
        """`maximize` or `minimize` (Optuna's `MAXIMIZE` too), or a Goal as it is."""
        if isinstance(name, Goal):
            return name
        try:
            return cls(str(name).lower())
        except ValueError:
            raise ConfigError("goal", f"{name!r} is not a goal; use "
                              f"{' or '.join(goal.value for goal in cls)}") from None

    @property
    def sign(self) -> int:
        """+1 or -1: `sign * value` is larger for a better value."""
        return 1 if self is Goal.MAXIMIZE else -1

    @property
    def worst(self) -> float:
        """A value every real value beats (-inf when maximizing)."""
        return -self.sign * math.inf

    def better(self, value: float, than: float) -> bool:
        """Whether `value` is strictly better than `than`."""
        return self.sign * value > self.sign * than

    def reaches(self, value: float, target: float) -> bool:
        """Whether `value` is at least as good as `target`."""
        return self.sign * value >= self.sign * target

    def best(self, items: Iterable[T], key: Callable[[T], Any] | None = None) -> T:
        """The best of `items` (by `key`), the first of equals."""
        pick = max if self is Goal.MAXIMIZE else min
        return pick(items, key=key if key is not None else _itself)

    def __str__(self) -> str:   # in messages and titles, the word a study file uses
        return self.value


def _itself(item: Any) -> Any:
    return item
