"""Pruning pays: batchsize_study with its pruner and without, same trial count, several seeds.

Reports epochs trained and best val_acc per seed. Goal: pruning trains at most half the epochs
and loses at most 0.5 points of best val_acc.

  python bench/pruning.py [--seeds 0,1,2] [--trials 24] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import SWEEP, median, print_table, timed, write_json

STUDY = "batchsize_study"


def run(work: Path, seed: int, trials: int, pruner: str | None) -> dict:
    root = work / f"{pruner or 'study'}-{seed}"
    command = [*SWEEP, "run", STUDY, "--root", str(root), "--seed", str(seed), "--trials",
               str(trials), "--wandb", "disabled", "--json"]
    if pruner:
        command += ["--pruner", pruner]
    seconds, out = timed(command, work)
    report = json.loads(out)
    return {"epochs": sum(t["epochs_run"] or 0 for t in report["trials"]),
            "best": report["best"]["value"], "seconds": seconds,
            "pruned": sum(t["state"] == "pruned" for t in report["trials"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    results, rows = [], []
    with tempfile.TemporaryDirectory() as work:
        for seed in map(int, args.seeds.split(",")):
            pruned, full = run(Path(work), seed, args.trials, None), \
                run(Path(work), seed, args.trials, "none")
            results.append({"seed": seed, "with_pruner": pruned, "without": full})
            rows.append([seed, pruned["epochs"], full["epochs"], pruned["epochs"] / full["epochs"],
                         pruned["best"], full["best"], 100 * (full["best"] - pruned["best"])])
    print_table(f"{STUDY}, {args.trials} trials: its pruner vs none",
                ["seed", "epochs pruned", "epochs full", "ratio", "best pruned", "best full",
                 "points lost"], rows)
    print(f"median epoch ratio {median([r[3] for r in rows]):.2f} (goal <= 0.5), median points "
          f"lost {median([r[6] for r in rows]):.2f} (goal <= 0.5)")
    write_json(args.json_path, {"runs": results})


if __name__ == "__main__":
    main()
