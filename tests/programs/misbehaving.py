"""A program that goes wrong in the way `--mode` says: `crash` raises after its first epoch,
`silent` never logs the study's metric, `hang` stops logging and sleeps, `fine` does not."""
import argparse
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--mode", default="fine")
args = parser.parse_args()
wandb.init(project="misbehaving")
for epoch in range(1, 4):
    if args.mode == "silent":
        wandb.log({"epoch": epoch, "loss": 1.0 / epoch})
    else:
        wandb.log({"epoch": epoch, "val_loss": 1.0 / epoch})
    if args.mode == "crash":
        raise ValueError("boom: the data loader fell over")
    if args.mode == "hang":
        time.sleep(600)
wandb.finish()
