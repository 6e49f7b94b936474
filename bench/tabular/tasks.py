"""The tabular benchmark's tasks: one grid study file each in bench/tabular/studies/.

The study file is the one home of a task's space: its parameters with `values` are the grid
(the table's `space`, in the file's order), those with `value` are fixed for every
configuration. `sweep run` builds a task's table from the same file (bench/tabular/build.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

STUDIES = Path(__file__).resolve().parent / "studies"
# The held-out task (issue 23: defaults are chosen on the others, this one is reported last).
HELD_OUT = "digits_cnn"
TASKS = ("mnist1d_cnn", "mnist1d_mlp", "mnist1d_mlp_long", "digits_cnn")


def study_file(task: str) -> Path:
    path = STUDIES / f"{task}.yaml"
    if not path.is_file():
        raise SystemExit(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return path


def study(task: str) -> dict[str, Any]:
    return yaml.safe_load(study_file(task).read_text())


def study_name(task: str) -> str:
    return study(task)["name"]


def space(task: str) -> dict[str, list]:
    """The grid: each searched parameter's values, in the study file's order."""
    return {name: block["values"] for name, block in study(task)["parameters"].items()
            if "values" in block}


def fixed(task: str) -> dict[str, Any]:
    """The settings every configuration of the task shares."""
    return {name: block["value"] for name, block in study(task)["parameters"].items()
            if "value" in block}

