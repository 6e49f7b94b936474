"""Local workers: trials per minute of one study run by 1 and by 2 worker processes.

The same small study (digits, a CNN, random sampler, no pruning, fixed seed) runs as a whole
`sweep run --workers W` process on the embedded journal storage; one worker keeps torch's
default threads, two get the cores divided between them (one thread each on 2 cores). One
worker held to one thread is shown too, to tell parallel processes from thread contention.
Reported: end to end (process start to exit, so including each worker's start-up) and steady
(first trial started to last trial finished, from the storage). Rounds alternate the
configurations; the median is shown. Goal: 2 workers >= 1.7x one on 2 cores. Other processes
loading the CPU skew it. Each worker process spends its first seconds importing torch, the
data and the optimizer's compiler hooks, so a study much shorter than this one measures that.

  python bench/workers.py [--trials 24] [--epochs 20] [--rounds 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import optuna

from common import SWEEP, median, print_table, timed, write_json
from sweeps.storage import open_storage, storage_url

# (label, workers, torch threads or None for the default a run gives its workers)
CONFIGS = (("1 worker", 1, None), ("1 worker, 1 thread", 1, 1), ("2 workers", 2, None))


def run_once(workers: int, threads: int | None, trials: int, epochs: int,
             root: Path) -> tuple[float, float]:
    """(end-to-end seconds, steady seconds) of one `sweep run` with `workers` processes."""
    command = [*SWEEP, "run", "bench", "--param", "lr=log:0.01..0.1", "--set", f"epochs={epochs}",
               "--set", "model=cnn", "--set", "width=16", "--sampler", "random",
               "--pruner", "none", "--trials", str(trials), "--workers", str(workers),
               "--wandb", "disabled", "--root", str(root), "--json"]
    if threads is not None:
        command += ["--set", f"threads={threads}"]
    seconds, _ = timed(command, cwd=Path.cwd())
    study = optuna.load_study(study_name="bench",
                              storage=open_storage(storage_url(root, None), create=False))
    done = study.get_trials(deepcopy=False)
    steady = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    return seconds, steady.total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timings: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in CONFIGS}
    for _ in range(args.rounds):
        for label, workers, threads in CONFIGS:
            with tempfile.TemporaryDirectory() as root:
                timings[label].append(run_once(workers, threads, args.trials, args.epochs,
                                               Path(root)))
    per_minute = {label: (60 * args.trials / median([t[0] for t in timings[label]]),
                          60 * args.trials / median([t[1] for t in timings[label]]))
                  for label in timings}
    one = per_minute[CONFIGS[0][0]]
    rows = [[label, *rates, rates[0] / one[0], rates[1] / one[1]]
            for label, rates in per_minute.items()]
    print_table(f"trials per minute, {args.trials} trials x {args.epochs} epochs, "
                f"{os.cpu_count()} cores, median of {args.rounds}",
                ["workers", "end_to_end", "steady", "x_end_to_end", "x_steady"], rows)
    print(f"load average when done: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(other processes on the CPU make these numbers noisy)")
    write_json(args.json_path, {"trials": args.trials, "epochs": args.epochs,
                                "seconds": timings, "trials_per_minute": per_minute})


if __name__ == "__main__":
    main()
