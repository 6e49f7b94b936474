"""The one use of W&B beyond its documented API (tracking/_wandb.py), pinned to the wandb it was
read from and exercised on a real offline run."""
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


def test_written_for_the_installed_wandb():
    installed = ".".join(wandb.__version__.split(".")[:2])
    assert installed == _wandb.WRITTEN_FOR, (
        f"sweeps/tracking/_wandb.py was written for wandb {_wandb.WRITTEN_FOR}, this is "
        f"{wandb.__version__}: check how `wandb leet inspect` starts wandb-core, then update it")


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
