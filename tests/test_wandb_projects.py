"""Where a sweep's W&B runs go: the project and entity, from the option, the environment, the
study file and the storage, in W&B's own order; the folder (`<root>/<study>/wandb/`, never
WANDB_DIR); and `sweep sync`, which leaves the runs W&B marked synced alone.

Real offline runs, read back with W&B's own reader. Each case costs one W&B run: a worker that
joins a study with nothing left to run writes only its study run, which is logged as the
trials' runs are (one `Tracker`, one `wandb.init`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import one_line_error, sweep, sweep_json
from wandb_helpers import closed_port, leet_summary

from torchsweep.sweeps.tracking.local_runs import list_runs

STUDY = """\
name: projects
method: random
metric: {name: val_acc, goal: maximize}
trials: 1
run_cap: 1
project: from_file
entity: file_entity
parameters:
  lr: {distribution: log_uniform_values, min: 0.01, max: 0.1}
  model: {value: mlp}
  width: {value: 8}
  batch_size: {value: 512}
  epochs: {value: 1}
"""
NO_WANDB_SETTINGS = {"WANDB_PROJECT": None, "WANDB_ENTITY": None}


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """One study, joined by workers in turn, each with one more source of the project and
    entity than the one before. Returns the root, WANDB_DIR, and each run's (name, project,
    entity) in the order they were made."""
    root = tmp_path_factory.mktemp("projects")
    elsewhere = tmp_path_factory.mktemp("wandb_dir")
    study = root / "projects.yaml"
    study.write_text(STUDY)
    sweep_json("create", study, "--root", root)
    # The study file alone, read from the storage by a worker in a process of its own with
    # WANDB_DIR set: its trial's run and its study run.
    env = {name: value for name, value in os.environ.items() if not name.startswith("WANDB_")}
    joined = subprocess.run(
        [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "worker",
         "projects", "--wandb", "offline", "--root", str(root), "--json"],
        capture_output=True, text=True, timeout=300,
        env={**env, "WANDB_SILENT": "true", "WANDB_DIR": str(elsewhere)})
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout)["ran"] == 1
    environment = {"WANDB_PROJECT": "from_env", "WANDB_ENTITY": "env_entity",
                   "WANDB_DIR": str(elsewhere)}
    # The environment over the study file.
    _join(root, environment)
    # An option given to `sweep create` (or `run`) is recorded with the study: a worker that
    # joins takes it from the storage, over its own environment.
    sweep_json("create", study, "--root", root, "--wandb-project", "from_option",
               "--wandb-entity", "option_entity")
    _join(root, environment)
    seen = [leet_summary(run.folder) for run in list_runs(root, "projects")]
    seen.sort(key=lambda run: run["start_time"])        # W&B's clock, finer than the folders'
    return root, elsewhere, [(run["name"], run["project"], run["entity"]) for run in seen]


def _join(root: Path, env: dict[str, str]) -> None:
    result = sweep("worker", "projects", "--wandb", "offline", "--root", root, "--json",
                   env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ran"] == 0


def test_project_and_entity_from_option_then_environment_then_study_file(projects):
    _, _, runs = projects
    assert runs == [("projects-t0", "from_file", "file_entity"),
                    ("projects-summary", "from_file", "file_entity"),
                    ("projects-summary", "from_env", "env_entity"),
                    ("projects-summary", "from_option", "option_entity")]


def test_runs_land_in_the_study_folder_not_in_wandb_dir(projects):
    root, elsewhere, runs = projects
    assert len(list_runs(root, "projects")) == len(runs)
    assert list(elsewhere.rglob("*")) == []


def test_sync_leaves_the_runs_wandb_marked_synced_alone(projects):
    """W&B's own sync marks a run it uploaded with an empty `run-<id>.wandb.synced` beside its
    log (wandb-core's runsync.markSynced; `wandb sync` skips such runs). With W&B unreachable,
    `sweep sync` tries only the run left unmarked, and with every run marked it has nothing to
    try and needs no network."""
    root, _, runs = projects
    unreachable = {"WANDB_API_KEY": "a" * 40, **NO_WANDB_SETTINGS,
                   "WANDB_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    found = list_runs(root, "projects")
    for run in found[1:]:
        (run.folder / f"run-{run.run_id}.wandb.synced").touch()
    listed = sweep_json("runs", "projects", "--root", root)["runs"]
    assert [run["sync"] for run in listed] == ["unsynced"] + ["synced"] * (len(runs) - 1)
    result = sweep("sync", "projects", "--root", root, "--timeout", "3", env=unreachable)
    one_line_error(result, 9, "error: 1 of 1 runs of 'projects' not synced")

    (found[0].folder / f"run-{found[0].run_id}.wandb.synced").touch()
    result = sweep("sync", "projects", "--root", root, "--timeout", "3", env=unreachable)
    assert result.exit_code == 0, result.stderr
    assert "nothing to sync: every W&B run of projects is synced" in result.stdout
