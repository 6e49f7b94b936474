"""Search efficiency side by side: best val_acc against the compute spent finding it.

Four searchers over the same space, model, data and budget (bench/search_contenders.py):
`sweep run` with its defaults, the hand-written Optuna script, W&B's own engine (bayes with
hyperband) and Ray Tune (OptunaSearch with ASHA). Each runs once per seed in its own process,
two processes at a time; every finished run is added to the results file at once, so an
interrupted bench keeps what it measured. Prints per contender the median final best and
epochs, and whether sweep meets its goal: reach each peer's median final best with at most
half of that peer's epochs, and end at least as high. Plots bench/search.png.

  python bench/search.py [--seeds 0,1,2] [--trials 20] [--epochs 15] [--results FILE]
  python bench/search.py --summarize [--results FILE]   # re-plot and re-print, no training
  python bench/search.py --quick   # 1 seed, sweep and the hand-written script only: one line
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import BENCH, median, print_table
from search_contenders import CONTENDERS

RESULTS = BENCH / "search_results.json"
PEERS = [c for c in CONTENDERS if c != "sweep"]


def run_one(contender: str, seed: int, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, str(BENCH / "search_contenders.py"), contender, "--seed",
                   str(seed), "--trials", str(args.trials), "--epochs", str(args.epochs),
                   "--dataset", args.dataset, "--out", out.name]
        done = subprocess.run(command, cwd=BENCH.parent, capture_output=True, text=True)
        if done.returncode != 0:
            return {"contender": contender, "seed": seed, "error": done.stderr[-1500:]}
        return json.loads(Path(out.name).read_text())


def curve(record: dict) -> list[tuple[int, float, float]]:
    """(cumulative epochs, seconds, best val_acc so far) after each trial, in the order trials
    ended."""
    points, epochs, best = [], 0, 0.0
    for trial in record["runs"]:
        epochs += trial["epochs"]
        best = max(best, trial["best"])
        points.append((epochs, trial["end_s"], best))
    return points


def epochs_to(record: dict, target: float) -> float:
    """Epochs trained when the best first reached `target`; infinity if it never did."""
    return next((e for e, _, b in curve(record) if b >= target), float("inf"))


def found(record: dict) -> int:
    """The trial (1-based, in the order trials ended) that gave the final best."""
    bests = [b for *_, b in curve(record)]
    return bests.index(bests[-1]) + 1


def by_contender(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for record in records:
        if "error" not in record:
            groups.setdefault(record["contender"], []).append(record)
    return groups


def summarize(records: list[dict], plot: Path | None) -> None:
    groups = by_contender(records)
    rows = []
    for name in CONTENDERS:
        runs = groups.get(name, [])
        if runs:
            finals = [curve(r)[-1] for r in runs]
            rows.append([name, len(runs), median([b for *_, b in finals]),
                         min(b for *_, b in finals), max(b for *_, b in finals),
                         median([e for e, *_ in finals]), median([s for _, s, _ in finals]),
                         median([sum(t["epochs"] < r["epochs"] for t in r["runs"])
                                 for r in runs]),
                         median([found(r) for r in runs])])
    print_table("final best val_acc and compute, over seeds",
                ["contender", "seeds", "median best", "min", "max", "median epochs",
                 "median seconds", "median trials cut", "median trial of best"], rows)
    if "sweep" in groups:
        sweep_runs = groups["sweep"]
        sweep_final = median([curve(r)[-1][2] for r in sweep_runs])
        goal_rows = []
        for peer in [p for p in PEERS if p in groups]:
            target = median([curve(r)[-1][2] for r in groups[peer]])
            peer_epochs = median([curve(r)[-1][0] for r in groups[peer]])
            needed = median([epochs_to(r, target) for r in sweep_runs])
            goal_rows.append([peer, target, peer_epochs, needed, needed / peer_epochs,
                              "yes" if needed <= peer_epochs / 2 and sweep_final >= target
                              else "no"])
        print_table("sweep against each peer's median final best (goal: ratio <= 0.5 and "
                    f"sweep's median final best {sweep_final:.4f} >= target)",
                    ["peer", "target", "peer epochs", "sweep epochs to target", "ratio",
                     "goal met"], goal_rows)
    failed = [f"{r['contender']} seed {r['seed']}" for r in records if "error" in r]
    if failed:
        print("failed runs: " + ", ".join(failed))
    if plot is not None:
        draw(groups, plot)


def draw(groups: dict[str, list[dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, column, label in ((axes[0], 0, "epochs trained, cumulative"),
                                (axes[1], 1, "wall seconds since the first trial started")):
        for name, runs in groups.items():
            curves = [curve(r) for r in runs]
            end = max(c[-1][column] for c in curves)
            grid = np.linspace(0, end, 400)
            # best so far at each x: the step function of each seed (nan before its first trial)
            values = np.array([[max([b for *x, b in c if x[column] <= g], default=np.nan)
                                for g in grid] for c in curves])
            with warnings.catch_warnings():   # all-nan columns before any seed's first trial
                warnings.simplefilter("ignore", RuntimeWarning)
                middle = np.nanmedian(values, axis=0)
                low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
            line, = axis.plot(grid, middle, label=f"{name} (median of {len(runs)})")
            axis.fill_between(grid, low, high, color=line.get_color(), alpha=0.15)
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("best val_acc so far")
    axes[0].set_ylim(0.90, 0.985)   # where the searchers differ; every one passes 0.9 early
    axes[0].legend(loc="lower right")
    figure.suptitle("Search efficiency on the same space, model and budget "
                    "(band: min to max over seeds)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


def quick(args) -> None:
    """One line: sweep's epochs to reach the hand-written script's final best, over the script's
    epochs (<= 0.5 meets the goal; lower is better)."""
    with ThreadPoolExecutor(2) as pool:
        sweep_run, peer_run = pool.map(lambda c: run_one(c, args.seed, args),
                                       ["sweep", "handwritten"])
    for record in (sweep_run, peer_run):
        if "error" in record:
            raise SystemExit(f"error: {record['contender']} failed: {record['error']}")
    target = curve(peer_run)[-1][2]
    peer_epochs = curve(peer_run)[-1][0]
    needed = epochs_to(sweep_run, target)
    print(f"compute ratio {needed / peer_epochs:.2f} (goal <= 0.50): sweep reached the "
          f"hand-written script's best {target:.4f} after {needed:g} epochs, the script trained "
          f"{peer_epochs}; sweep's best {curve(sweep_run)[-1][2]:.4f} (seed {args.seed}, "
          f"{args.trials} trials x {args.epochs} epochs, {args.dataset})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--seed", type=int, default=0, help="the --quick seed")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--parallel", type=int, default=2, help="runs at once")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=BENCH / "search.png")
    parser.add_argument("--summarize", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        return quick(args)
    if args.summarize:
        return summarize(json.loads(args.results.read_text())["runs"], args.plot)
    jobs = [(c, int(s)) for s in args.seeds.split(",") for c in args.contenders.split(",")]
    results = {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "load_before": os.getloadavg(), "runs": []}

    lock = threading.Lock()

    def job(spec):
        record = run_one(*spec, args)
        with lock:
            results["runs"].append(record)
            args.results.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{spec[0]} seed {spec[1]}: " + ("FAILED" if "error" in record else
              f"best {curve(record)[-1][2]:.4f}, {curve(record)[-1][0]} epochs, "
              f"{curve(record)[-1][1]:.0f} s"), flush=True)

    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(job, jobs))
    summarize(results["runs"], args.plot)


if __name__ == "__main__":
    main()
