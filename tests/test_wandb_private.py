"""The one use of W&B beyond its documented API (tracking/_wandb.py), exercised on a real offline
run: a wandb that changes it fails here. No version string is compared (pyproject.toml bounds
wandb to the releases CI has run)."""
import json
import os
import subprocess
import sys

import wandb
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


def test_follow_records_reads_a_real_run_to_its_end(tmp_path):
    subprocess.run([sys.executable, "-c", WRITER.format(dir=str(tmp_path))], check=True,
                   env={**os.environ, "WANDB_SILENT": "true"}, capture_output=True)
    run_file, = tmp_path.glob("wandb/offline-run-*-pinned1/run-pinned1.wandb")
    reader = _wandb.follow_records(run_file)
    records = [json.loads(line) for line in reader.stdout]   # it stops at the run's end
    assert reader.wait(timeout=30) == 0
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [row["val_loss"] for row in history] == [1.0, 0.5, 1.0 / 3]
    assert records[-1]["type"] == "exit" and records[-1]["exit"]["exit_code"] == 0
