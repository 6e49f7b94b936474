"""Every use of W&B beyond its documented API (tracking/_wandb.py), exercised on a real offline
run and held to W&B's own code that reads the same thing: a wandb that changes one fails here.
No version string is compared (pyproject.toml bounds wandb to the releases CI has run)."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import wandb
import yaml
from wandb.cli import beta_sync

from torchsweep.sweeps.tracking import _wandb

WRITER = """
import wandb
run = wandb.init(project="pinned", id="pinned1", dir={dir!r}, mode="offline")
for step in range(3):
    wandb.log({{"epoch": step + 1, "val_loss": 1.0 / (step + 1)}})
run.summary["note"] = "done"
wandb.finish()
"""


def test_the_binary_wandb_leet_starts_is_found():
    import wandb.util

    assert hasattr(wandb.util, "get_core_path"), (
        f"wandb {wandb.__version__} moved wandb.util.get_core_path: mend "
        f"sweeps/tracking/_wandb.py, then widen pyproject.toml's bound")
    assert os.access(_wandb._core_path(), os.X_OK)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """A real offline run, written by W&B in a process of its own: its wandb/ folder."""
    folder = tmp_path_factory.mktemp("written")
    subprocess.run([sys.executable, "-c", WRITER.format(dir=str(folder))], check=True,
                   env={**os.environ, "WANDB_SILENT": "true"}, capture_output=True)
    return folder / "wandb"


def test_follow_records_reads_a_real_run_to_its_end(offline_run):
    run_file = _wandb.run_file(offline_run, "pinned1")
    assert run_file is not None and run_file.is_file()
    reader = _wandb.follow_records(run_file)
    records = [json.loads(line) for line in reader.stdout]   # it stops at the run's end
    assert reader.wait(timeout=30) == 0
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [row["val_loss"] for row in history] == [1.0, 0.5, 1.0 / 3]
    assert records[-1]["type"] == "exit" and records[-1]["exit"]["exit_code"] == 0


def test_a_runs_folder_name_and_sync_marker_are_read_as_wandb_reads_them(offline_run):
    [found] = [run for run in _wandb.run_folders(offline_run) if run.run_id == "pinned1"]
    log = _wandb.run_file(offline_run, "pinned1")
    # W&B's own `wandb beta sync` judges the same log
    assert found.offline == (not beta_sync._is_online(log)) and found.offline
    assert found.synced == beta_sync._is_synced(log) and not found.synced
    assert found.path == log.parent
    marker = log.with_suffix(".wandb.synced")     # as W&B's sync leaves it
    marker.touch()
    try:
        [found] = [run for run in _wandb.run_folders(offline_run) if run.run_id == "pinned1"]
        assert found.synced and beta_sync._is_synced(log)
    finally:
        marker.unlink()


def test_the_private_settings_we_set_exist_and_read_from_their_variables():
    for setting in (_wandb.FLUSH_INTERVAL, _wandb.SAVE_REQUIREMENTS):
        assert setting in wandb.Settings.model_fields, (
            f"wandb {wandb.__version__} has no {setting}: mend sweeps/tracking/_wandb.py")
    settings = wandb.Settings()
    settings.update_from_env_vars({_wandb.env_name(_wandb.FLUSH_INTERVAL): "7",
                                   _wandb.env_name("init_timeout"): "9"})
    assert (settings.x_transaction_log_flush_interval, settings.init_timeout) == (7, 9)


def test_a_programs_run_takes_the_trials_values_from_the_agents_file(tmp_path):
    values = {"lr": 0.01, "layers": [1, 2]}
    _wandb.write_sweep_params(tmp_path / "params.yaml", values)
    reads = ("import json, wandb; run = wandb.init(mode='offline'); "
             "print(json.dumps(dict(run.config))); run.finish()")
    done = subprocess.run([sys.executable, "-c", reads], capture_output=True, text=True,
                          check=True, cwd=tmp_path,
                          env={**os.environ, "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path),
                               _wandb.SWEEP_PARAM_PATH: str(tmp_path / "params.yaml")})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == values
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["wandb_version"] == 1


def test_a_run_made_online_is_told_from_its_folders_name(offline_run, tmp_path):
    """W&B names a run made online `run-<time>-<id>`; its log is the same."""
    written = _wandb.run_file(offline_run, "pinned1").parent
    shutil.copytree(written, tmp_path / written.name.removeprefix("offline-"))
    [found] = _wandb.run_folders(tmp_path)
    assert not found.offline and beta_sync._is_online(_wandb.run_file(tmp_path, "pinned1"))
