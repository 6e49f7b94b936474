"""A program with two objectives that pull apart: a wider model reaches a lower loss but takes
more time per epoch (`--width`). `--waste` adds to both, so a trial with waste is dominated
by the same width without it (off the Pareto front)."""
import argparse

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--width", type=int, default=4)
parser.add_argument("--waste", type=float, default=0.0)
args = parser.parse_args()
wandb.init(project="two_metrics")
for epoch in range(1, 3):
    wandb.log({"epoch": epoch, "val_loss": 1.0 / (args.width * epoch) + args.waste,
               "seconds_per_epoch": 0.1 * args.width + args.waste})
wandb.finish()
