"""Memory: resident set size of one worker across 50 sequential trials (W&B offline on).

Runs the study in this process and reads /proc/self/status as each trial starts, so the curve
is the memory the previous trials left behind. Goal: flat, within +10% from trial 5 to trial 50.

  python bench/memory.py [--trials 50] [--json FILE]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import print_table, write_json

from torchsweep.sweeps.engine.objective import NullObserver
from torchsweep.sweeps.engine.orchestrate import run_study
from torchsweep.sweeps.engine.run_options import RunOptions
from torchsweep.sweeps.study.catalog import resolve


def resident_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class MemoryCurve(NullObserver):
    def __init__(self):
        self.samples: list[tuple[int, float, float]] = []

    def trial_started(self, number, params) -> None:
        self.samples.append((number, *resident_mib()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_SILENT", "true")
    curve = MemoryCurve()
    with tempfile.TemporaryDirectory() as work:
        spec = resolve("memory", Path(work), params=["lr=log:0.01..0.2", "batch_size=32,64,128"],
                       sets=["epochs=1", "threads=2"])
        run_study(spec, RunOptions(root=Path(work), trials=args.trials, wandb="offline",
                                   sampler="random", pruner="none"), observer=curve)
    by_trial = {number: (rss, peak) for number, rss, peak in curve.samples}
    shown = [n for n in (0, 1, 5, 10, 20, 30, 40, args.trials - 1) if n in by_trial]
    print_table(f"RSS as each trial starts, {args.trials} sequential trials (MiB)",
                ["trial", "rss", "peak"], [[n, *by_trial[n]] for n in shown])
    growth = by_trial[args.trials - 1][1] / by_trial[5][1] - 1
    print(f"peak growth trial 5 -> {args.trials - 1}: {growth:+.1%} (goal <= +10%)")
    write_json(args.json_path, {"samples": curve.samples, "peak_growth_5_to_last": growth})


if __name__ == "__main__":
    main()
