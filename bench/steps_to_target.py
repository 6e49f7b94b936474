"""Steps to a target per batch size and learning rate: each run stops at its first evaluation
that reaches the target, so a batch size that needs many epochs gets them.

  python bench/steps_to_target.py [--target 0.9] [--batch-sizes 16,64,256,512]
                                  [--lrs 0.03,0.1,0.3] [--scheduler constant] [--epochs 30]

lr is given at batch 64 and scaled by sqrt(batch/64), as batchsize_study does; SGD with
momentum 0.9 on mnist1d's 1-D cnn.
"""
from __future__ import annotations

import argparse
import time

from common import print_table

from torchsweep.trainer import TrainConfig
from torchsweep.trainer.loop import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--batch-sizes", default="16,64,256,512")
    parser.add_argument("--lrs", default="0.03,0.1,0.3")
    parser.add_argument("--scheduler", default="constant")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for batch_size in map(int, args.batch_sizes.split(",")):
        for lr in map(float, args.lrs.split(",")):
            config = TrainConfig.from_dict({
                "dataset": "mnist1d", "batch_size": batch_size, "lr": lr, "lr_scaling": "sqrt",
                "base_batch_size": 64, "optimizer": "sgd", "momentum": 0.9,
                "scheduler": args.scheduler, "epochs": args.epochs, "noise_scale_every": 0})
            reached: dict = {}

            def stop_at_target(row: dict) -> bool:
                if not reached and row.get("val_acc", 0.0) >= args.target:
                    reached.update(row)
                return bool(reached)

            started = time.perf_counter()
            result = fit(config, evaluation_callbacks=[stop_at_target])
            rows.append([batch_size, lr, reached.get("steps", "-"),
                         reached.get("samples", "-"), len(result.history),
                         max((m["val_acc"] for m in result.history), default=float("nan")),
                         time.perf_counter() - started])
    print_table(f"steps to val_acc >= {args.target} on mnist1d ({args.scheduler} lr)",
                ["batch", "lr at 64", "steps", "samples", "epochs run", "best val_acc",
                 "seconds"], rows)


if __name__ == "__main__":
    main()
