"""A training script in the style of W&B's boolean-parameters example: flags on its command line
(`--use_bn=True`, as W&B's agent writes them), its config from them and from W&B's sweep file;
it logs one metric, `accuracy`."""
import argparse

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--optimizer", default="sgd")
parser.add_argument("--use_bn", default=False, type=lambda text: text.lower() == "true")
args = parser.parse_args()

run = wandb.init(config=args)
assert run.config.use_bn == args.use_bn   # W&B's file and ${args} agree
run.log({"accuracy": 0.5 + 0.25 * args.use_bn + 0.125 * (args.optimizer == "adam")})
run.finish()
