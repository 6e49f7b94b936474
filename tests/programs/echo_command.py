"""Writes down how it was started (its command line, its interpreter and wandb.config) in its
trial folder (SWEEP_TRIAL_DIR), then logs one metric: a `command:` study's macros as they
reached a real process."""
import json
import os
import sys
from pathlib import Path

import wandb

run = wandb.init(project="echo_command")
Path(os.environ["SWEEP_TRIAL_DIR"], "started.json").write_text(json.dumps({
    "argv": sys.argv, "executable": sys.executable, "config": dict(run.config)}))
wandb.log({"val_loss": 0.5})
wandb.finish()
