"""Pruning pays: a bundled study with its pruner and without, same trial count, several seeds.

Reports, per study and seed, the epochs trained (samples trained over the training split's
size, so a trial stopped within an epoch counts the part it trained) and the best val_acc.
Goal, median over seeds: pruning trains at most half the epochs and loses at most 0.5 points
of best val_acc.

  python bench/pruning.py [--studies batchsize_study,full_study] [--seeds 0,1,2]
                          [--trials N] [--set NAME=VALUE ...] [--json FILE]

--set goes to both runs (e.g. --set evaluations_per_epoch=1 to compare with per-epoch steps);
--trials defaults to each study's own.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import SWEEP, median, print_table, timed, write_json


def run(work: Path, study: str, seed: int, trials: int | None, pruner: str | None,
        sets: list[str]) -> dict:
    root = work / f"{study}-{pruner or 'own'}-{seed}"
    command = [*SWEEP, "run", study, "--root", str(root), "--seed", str(seed),
               "--wandb", "disabled", "--json"]
    command += ["--trials", str(trials)] if trials else []
    command += ["--pruner", pruner] if pruner else []
    for setting in sets:
        command += ["--set", setting]
    seconds, out = timed(command, work)
    report = json.loads(out)
    return {"epochs": sum(t["epochs_trained"] or 0 for t in report["trials"]),
            "best": report["best"]["value"], "seconds": seconds,
            "trials": len(report["trials"]),
            "pruned": sum(t["state"] == "pruned" for t in report["trials"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", default="batchsize_study,full_study")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as work:
        for study in args.studies.split(","):
            rows = []
            for seed in map(int, args.seeds.split(",")):
                pruned = run(Path(work), study, seed, args.trials, None, args.sets)
                full = run(Path(work), study, seed, args.trials, "none", args.sets)
                results.append({"study": study, "seed": seed, "with_pruner": pruned,
                                "without": full})
                rows.append([seed, pruned["pruned"], pruned["epochs"], full["epochs"],
                             pruned["epochs"] / full["epochs"], pruned["best"], full["best"],
                             100 * (full["best"] - pruned["best"]), pruned["seconds"],
                             full["seconds"]])
                print(json.dumps(results[-1]), flush=True)
            print_table(f"{study}, {full['trials']} trials{' ' if args.sets else ''}"
                        f"{' '.join(args.sets)}: its pruner vs none",
                        ["seed", "pruned", "epochs pruned", "epochs full", "ratio",
                         "best pruned", "best full", "points lost", "s pruned", "s full"], rows)
            print(f"{study}: median epoch ratio {median([r[4] for r in rows]):.2f} (goal <= "
                  f"0.5), median points lost {median([r[7] for r in rows]):.2f} (goal <= 0.5)",
                  flush=True)
    write_json(args.json_path, {"runs": results})


if __name__ == "__main__":
    main()
