"""Trials whose metric collapsed late: their last value far below their best.

A trial's value is its best evaluation (the checkpoint kept), so one that reached 0.92 and
then fell to 0.1 is still "completed at 0.92": `sweep show` and the report flag it. "Far
below" comes from the study itself: FAR times the median absolute change between two
consecutive evaluations, over every trial. Most consecutive pairs lie on a plateau, where a
change is the evaluation's own jitter (a validation set's sampling noise), so the median is
that jitter; a fall of many of them is not noise. The curve is what each trial reported to
Optuna at every evaluation (a program's trial: at every step it logged); a trial with repeats
reports one value per seed, which is no curve, and is not judged.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from torchsweep.trainer.goal import Goal

FAR = 6.0          # falls larger than this many typical changes count as a collapse


@dataclass(frozen=True)
class Collapse:
    best: float
    last: float
    threshold: float   # the fall from the best that counts as far, in the metric's units

    def to_dict(self) -> dict[str, float]:
        return {"best": self.best, "last": self.last, "threshold": self.threshold}


def typical_change(curves: list[list[float]]) -> float | None:
    """The median absolute change between consecutive evaluations of every curve (None when
    no curve has two)."""
    changes = [abs(b - a) for curve in curves for a, b in zip(curve, curve[1:])]
    return statistics.median(changes) if changes else None


def collapses(curves: dict[int, list[float]], goal: Goal) -> dict[int, Collapse]:
    """The trials (by number) whose last value lies more than FAR typical changes short of
    their best."""
    typical = typical_change(list(curves.values()))
    if not typical:
        return {}
    threshold = FAR * typical
    found = {}
    for number, curve in curves.items():
        if len(curve) < 2:
            continue
        best = goal.best(curve)
        fall = goal.sign * (best - curve[-1])
        if fall > threshold:
            found[number] = Collapse(best, curve[-1], threshold)
    return found


def rule(threshold: float, metric: str) -> str:
    """The definition, as the page and `sweep show` state it."""
    return (f"its last {metric} more than {threshold:.3g} short of its best: {FAR:g} times the "
            "study's median change between two consecutive evaluations")
