"""What evaluating within epochs costs: one training run with evaluations_per_epoch = 1 and
with E, alternated, at a small and a large batch size; median seconds and the overhead.

  python bench/evaluations.py [--dataset digits] [--per-epoch 4] [--epochs 3] [--rounds 3]
"""
from __future__ import annotations

import argparse
import time

from common import median, print_table

from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.loop import fit


def seconds(config: TrainConfig) -> float:
    started = time.perf_counter()
    fit(config)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--per-epoch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for batch_size in (16, 256):
        base = TrainConfig(dataset=args.dataset, epochs=args.epochs, batch_size=batch_size,
                           device="cpu", threads=1)
        seconds(base)   # warm: imports, data cache
        once, often = [], []
        for _ in range(args.rounds):
            once.append(seconds(base.replace(evaluations_per_epoch=1)))
            often.append(seconds(base.replace(evaluations_per_epoch=args.per_epoch)))
        rows.append([batch_size, median(once), median(often),
                     100 * (median(often) / median(once) - 1)])
    print_table(f"{args.dataset}, cnn, {args.epochs} epochs, 1 thread, median of "
                f"{args.rounds}: evaluations_per_epoch 1 vs {args.per_epoch}",
                ["batch", "s (E=1)", f"s (E={args.per_epoch})", "overhead %"], rows)


if __name__ == "__main__":
    main()
