"""Local workers: trials per minute of 1 and 2 `sweep` workers on this machine's cores, beside
what two copies of the hand-written script get from the same cores.

The work is the peer's grid (batch_size {32, 64, 128} x optimizer {sgd, adam}; lr 0.01,
cosine, label smoothing 0.1; the peer's cnn on digits), EPOCHS epochs a trial, no pruning,
W&B off. Every process runs those 6 trials:

  sweep, 1 worker       `sweep run --workers 1` (the worker keeps torch's default threads)
  sweep, 2 workers      `sweep run --workers 2` over the grid twice (seed 0 and 1: 12 trials,
                        the same work twice; the run gives each worker one thread)
  peer, 1 process       the hand-written script with 2 threads
  peer, 2 processes     two copies of it at once, 1 thread each

Trials per minute count the whole run, process start to exit (imports and start-up
included). x is the 2-process run's trials per minute over the 1-process run's of the same
tool and round, median over the rounds (the range is shown too). The peer's x is
what two processes of this work get from this machine at best: a hand-written script has no
storage, queue or heartbeat to share. Rounds alternate the four runs; the median is shown.
Goal: sweep's x >= 1.7 on 2 cores. Other processes on the CPU skew it.

  python bench/workers.py [--epochs 20] [--rounds 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PEER, SWEEP, median, print_table, timed, write_json

GRID_TRIALS = 6
PEER_GRID = ["--param", "batch_size=32,64,128", "--param", "optimizer=sgd,adam",
             "--set", "lr=0.01", "--set", "momentum=0.9", "--set", "weight_decay=0",
             "--set", "scheduler=cosine", "--set", "label_smoothing=0.1"]
QUIET = {"WANDB_MODE": "disabled"}


def sweep_seconds(workers: int, epochs: int, root: Path) -> float:
    # Two workers get the grid twice (seeds 0 and 1), so each process has the grid's work.
    seeds = ["--param", "seed=0,1"] if workers == 2 else []
    command = [*SWEEP, "run", "bench", *PEER_GRID, *seeds, "--set", f"epochs={epochs}",
               "--sampler", "grid", "--pruner", "none", "--workers", str(workers),
               "--wandb", "disabled", "--root", str(root), "--json"]
    return timed(command, cwd=Path.cwd(), env=QUIET)[0]


def peer_seconds(processes: int, epochs: int, root: Path) -> float:
    threads = 2 if processes == 1 else 1
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, str(PEER), "--mode", "grid", "--epochs",
                                 str(epochs), "--threads", str(threads), "--out",
                                 str(root / f"peer-{index}")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, **QUIET})
               for index in range(processes)]
    for process in running:
        _, error = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"the peer failed ({process.returncode}): {error[-2000:]!r}")
    return time.perf_counter() - started


RUNS = (("sweep", 1, sweep_seconds), ("sweep", 2, sweep_seconds),
        ("peer", 1, peer_seconds), ("peer", 2, peer_seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    if not PEER.is_file():
        raise SystemExit(f"the peer script is missing: {PEER}")
    seconds: dict[str, list[float]] = {f"{tool} x{n}": [] for tool, n, _ in RUNS}
    for _ in range(args.rounds):
        for tool, processes, run in RUNS:
            with tempfile.TemporaryDirectory() as root:
                seconds[f"{tool} x{processes}"].append(run(processes, args.epochs, Path(root)))
    rows, per_minute, speedups = [], {}, {}
    for tool, processes, _ in RUNS:
        key = f"{tool} x{processes}"
        per_minute[key] = 60 * GRID_TRIALS * processes / median(seconds[key])
        # Each round's 2-process run over the same round's 1-process run: the machine's speed
        # drifts between rounds more than between neighbouring runs.
        speedups[key] = [processes * one / many for one, many
                         in zip(seconds[f"{tool} x1"], seconds[key])]
        unit = ("worker", "workers") if tool == "sweep" else ("process", "processes")
        rows.append([f"{tool}, {processes} {unit[processes > 1]}", GRID_TRIALS * processes,
                     median(seconds[key]), per_minute[key], median(speedups[key]),
                     f"{min(speedups[key]):.2f}-{max(speedups[key]):.2f}"])
    print_table(f"trials per minute, the peer's grid x {args.epochs} epochs, "
                f"{os.cpu_count()} cores, median of {args.rounds}",
                ["run", "trials", "seconds", "trials/min", "x", "x by round"], rows)
    print(f"load average when done: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(other processes on the CPU make these numbers noisy)")
    write_json(args.json_path, {"epochs": args.epochs, "seconds": seconds,
                                "trials_per_minute": per_minute, "speedups": speedups})


if __name__ == "__main__":
    main()
