"""A training script in the style of W&B's quickstart, with its own parameter names: it reads
them from wandb.config (and from the command line W&B's default command passes), logs its
metrics with wandb.log, and saves its "model" where `sweep` tells it (SWEEP_TRIAL_DIR).

Its loss falls faster with a larger learning_rate * hidden, so a sampler has something to find;
`bad_after` makes the trials from that number on learn nothing, for tests of pruning, and
`stall_at` makes such a trial wait after that epoch until it is stopped (SIGTERM), so that a
test need not race the pruner against the program's last epoch.
"""
import argparse
import math
import os
import sys
import time
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=0.01)
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--bad_after", type=int, default=1_000_000)
parser.add_argument("--stall_at", type=int, default=0)
args = parser.parse_args()

run = wandb.init(project="quickstart", config=vars(args))   # the sweep's values win
config = wandb.config
assert config.learning_rate == args.learning_rate   # W&B's file and ${args} agree
bad = int(os.environ.get("SWEEP_TRIAL_NUMBER", 0)) >= config.bad_after
release = os.environ.get("WAIT_FOR")   # a file: trials after the first start once it exists
while release and int(os.environ["SWEEP_TRIAL_NUMBER"]) > 0 and not Path(release).exists():
    time.sleep(0.05)
loss = 2.0
for epoch in range(1, config.epochs + 1):
    loss *= 1.0 if bad else math.exp(-config.learning_rate * config.hidden / 16)
    wandb.log({"epoch": epoch, "val_loss": loss, "train_loss": 0.9 * loss})
    time.sleep(float(os.environ.get("EPOCH_SECONDS", "0.1")))
    if bad and epoch == config.stall_at:
        time.sleep(120)   # stopped long before this; a sweep that never stops it is told so
        sys.exit(f"a bad trial was not stopped in its epoch {epoch}")
if os.environ.get("SAVE_MODEL", "1") == "1":   # 0: a script that saves nothing
    Path(os.environ.get("SWEEP_TRIAL_DIR", "."), "model.txt").write_text(f"{loss}\n")
wandb.finish()
