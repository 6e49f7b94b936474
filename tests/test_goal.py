"""trainer.goal: the one place a metric's direction is compared."""
import math

import optuna
import pytest

from torchsweep.trainer.errors import ConfigError
from torchsweep.trainer.goal import Goal


def test_each_goal_compares_its_own_way():
    up, down = Goal.MAXIMIZE, Goal.MINIMIZE
    assert up.better(0.9, 0.8) and not up.better(0.8, 0.9) and not up.better(0.8, 0.8)
    assert down.better(0.1, 0.2) and not down.better(0.2, 0.1) and not down.better(0.2, 0.2)
    assert up.reaches(0.8, 0.8) and up.reaches(0.9, 0.8) and not up.reaches(0.7, 0.8)
    assert down.reaches(0.8, 0.8) and down.reaches(0.7, 0.8) and not down.reaches(0.9, 0.8)
    assert (up.best([1, 3, 2]), down.best([1, 3, 2])) == (3, 1)
    rows = [{"v": 2, "at": 1}, {"v": 1, "at": 2}, {"v": 2, "at": 3}]
    assert up.best(rows, key=lambda row: row["v"])["at"] == 1   # the first of equals
    assert down.best(rows, key=lambda row: row["v"])["at"] == 2
    assert (up.worst, down.worst) == (-math.inf, math.inf)
    assert all(goal.better(0.5, goal.worst) for goal in Goal)
    assert sorted([0.2, 0.9, 0.5], key=lambda v: -up.sign * v) == [0.9, 0.5, 0.2]
    assert sorted([0.2, 0.9, 0.5], key=lambda v: -down.sign * v) == [0.2, 0.5, 0.9]


def test_goals_are_read_from_a_study_files_words_and_from_optuna():
    assert Goal.from_name("maximize") is Goal.MAXIMIZE
    assert Goal.from_name(Goal.MINIMIZE) is Goal.MINIMIZE
    assert [Goal.from_name(d.name) for d in (optuna.study.StudyDirection.MAXIMIZE,
                                             optuna.study.StudyDirection.MINIMIZE)] == list(Goal)
    assert f"{Goal.MINIMIZE} val_loss" == "minimize val_loss"
    with pytest.raises(ConfigError, match="^goal: 'max' is not a goal; use maximize or "
                                          "minimize$"):
        Goal.from_name("max")
