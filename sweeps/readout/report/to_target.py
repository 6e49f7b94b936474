"""How long a trial took to reach a target value of its metric, read off its history.

The trainer cannot know a study's target, so it reports running totals (`steps`,
`samples_seen`, `wall_seconds`) at every evaluation and the target is applied here,
afterwards. A trial's count is that of the first evaluation at or beyond the target: at most
one evaluation late (an epoch over `evaluations_per_epoch`).
"""
from __future__ import annotations

from typing import Iterable, Mapping

from torchsweep.trainer.goal import Goal

# When a study names no target, the report aims this far short of its best value (a share of
# it): close enough to the best to be demanding, far enough that most settings get there.
NEAR_BEST_MARGIN = 0.05


def to_target(history: Iterable[Mapping[str, float]], metric: str, target: float,
              goal: Goal) -> dict[str, float] | None:
    """{'epoch', 'steps', 'samples_seen', 'wall_seconds'} at the first row (an epoch's or an
    evaluation's) that reached the target, or None when none did (or the history predates the
    running totals)."""
    for metrics in history:
        if metric in metrics and "steps" in metrics and goal.reaches(metrics[metric], target):
            return {key: metrics[key] for key in ("epoch", "steps", "samples_seen",
                                                  "wall_seconds")}
    return None


def near_best_target(best: float, goal: Goal) -> float:
    """A target just short of the best value, for a study that sets none."""
    margin = NEAR_BEST_MARGIN * abs(best)
    return best - goal.sign * margin
