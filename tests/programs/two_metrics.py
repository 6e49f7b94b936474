"""A program with two objectives that pull apart: a wider model reaches a lower loss but takes
more time per epoch (`--width`)."""
import argparse

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--width", type=int, default=4)
args = parser.parse_args()
wandb.init(project="two_metrics")
for epoch in range(1, 3):
    wandb.log({"epoch": epoch, "val_loss": 1.0 / (args.width * epoch),
               "seconds_per_epoch": 0.1 * args.width})
wandb.finish()
