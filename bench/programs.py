"""A user's program swept by `sweep` against the same program run N times in a shell loop.

The same N settings either way (`--lr` values spread log-uniformly, as a grid), W&B offline for
both, one process at a time, no pruning; whole runs timed from start to exit, the two
alternating. Goal: `sweep` takes at most 1.1x the loop's wall time.

  python bench/programs.py [--trials 8] [--epochs 10] [--rounds 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import BENCH, SWEEP, median, print_table, timed, write_json

PROGRAM = BENCH / "programs" / "digits_train.py"


def settings(trials: int) -> list[float]:
    return [round(0.005 * (0.5 / 0.005) ** (i / max(trials - 1, 1)), 6) for i in range(trials)]


def study_file(rates: list[float], epochs: int) -> str:
    return (f"program: {PROGRAM.name}\nmethod: grid\nmetric: {{name: val_acc, goal: maximize}}\n"
            f"parameters:\n  lr: {{values: {rates}}}\n  hidden: {{value: 64}}\n"
            f"  epochs: {{value: {epochs}}}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    rates, env = settings(args.trials), {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.rounds):
            work = Path(scratch) / f"round{index}"
            work.mkdir()
            shutil.copy(PROGRAM, work / PROGRAM.name)
            (work / "study.yaml").write_text(study_file(rates, args.epochs))
            loop = f"for lr in {' '.join(map(str, rates))}; do python {PROGRAM.name} " \
                   f"--lr=$lr --hidden=64 --epochs={args.epochs} || exit 1; done"
            loop_seconds, _ = timed(["bash", "-c", loop], work, env)
            sweep_seconds, _ = timed([*SWEEP, "run", "study.yaml", "--root", "runs",
                                      "--pruner", "none", "--json"], work, env)
            ratios.append(sweep_seconds / loop_seconds)
            rows.append([index, loop_seconds, sweep_seconds, ratios[-1]])
    print_table(f"{args.trials} trials of {PROGRAM.name} ({args.epochs} epochs each): shell loop "
                f"vs sweep run", ["round", "loop s", "sweep s", "sweep/loop"], rows)
    print(f"median sweep/loop: {median(ratios):.3f} (goal: at most 1.1)")
    write_json(args.json, {"trials": args.trials, "epochs": args.epochs, "rows": rows,
                           "median_ratio": median(ratios)})


if __name__ == "__main__":
    main()
