"""Does batchsize_study's answer hold across seeds? Runs `sweep run batchsize_study --seed S`
for each seed into a root of its own, one after the other, then `sweep report`, and prints
each seed's critical batch size with its 95% bootstrap interval, its wall time and the
machine's load average around it, and whether every seed's interval holds every other seed's
point estimate.

  nice -n 19 python bench/batchsize_seeds.py [--seeds 0,1,2,3,4] [--study batchsize_study]
                                             [--out runs/batchsize_seeds] [--report-only]

`--report-only` reads the roots an earlier run left (to re-read them after a report change).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from common import SWEEP, print_table, timed, write_json


def run_seed(study: str, seed: int, root: Path) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    command = [*SWEEP, "run", study, "--seed", str(seed), "--root", str(root),
               "--wandb", "disabled"]
    before = os.getloadavg()
    seconds, _ = timed(command, Path.cwd(), env={"WANDB_MODE": "disabled"})
    after = os.getloadavg()
    return {"seed": seed, "wall_s": seconds, "load_before": before, "load_after": after}


def answer(study: str, root: Path) -> dict:
    from torchsweep.sweeps import attrs
    from torchsweep.sweeps.readout.report.batch_size_plots import answer_for
    from torchsweep.sweeps.readout.report.page import resolve_target
    from torchsweep.sweeps.readout.trials import goal, load_study, records

    _, printed = timed([*SWEEP, "report", study, "--root", str(root)], Path.cwd())
    loaded = load_study(study, root, None)
    trials = records(loaded, root)
    metric, aim = attrs.metric_name(loaded), goal(loaded)
    target, _ = resolve_target(loaded, trials, metric, aim, None)
    found = answer_for(trials, metric, aim, target)
    states = [t.state for t in trials]
    return {"target": target, "completed": states.count("completed"),
            "pruned": states.count("pruned"),
            "point": found.fit.critical_batch_size if found else None,
            "low": found.low if found else None, "high": found.high if found else None,
            "reliable": bool(found and found.reliable),
            "printed": next((line for line in printed.splitlines() if "by batch size" in line),
                            "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--study", default="batchsize_study")
    parser.add_argument("--out", default="runs/batchsize_seeds")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--results", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    for seed in map(int, args.seeds.split(",")):
        root = Path(args.out).resolve() / f"seed{seed}"
        ran = {"seed": seed} if args.report_only else run_seed(args.study, seed, root)
        rows.append({**ran, **answer(args.study, root)})
        print(json.dumps(rows[-1]), flush=True)
    for row in rows:
        others = [o["point"] for o in rows if o is not row and o["point"] is not None]
        row["holds_others"] = (row["low"] is not None and all(
            row["low"] <= point <= row["high"] for point in others))
    print_table(
        f"{args.study}: critical batch size per seed (95% bootstrap interval)",
        ["seed", "wall s", "load 1/5/15 before", "load after", "completed", "pruned", "target",
         "B_crit", "95% interval", "reliable", "holds the others' points"],
        [[r["seed"], r.get("wall_s", "-"),
          " ".join(f"{x:.1f}" for x in r["load_before"]) if "load_before" in r else "-",
          " ".join(f"{x:.1f}" for x in r["load_after"]) if "load_after" in r else "-",
          r["completed"], r["pruned"], f"{r['target']:.4f}",
          f"{r['point']:.0f}" if r["point"] is not None else "-",
          f"{r['low']:.0f} to {r['high']:.0f}" if r["low"] is not None else "-",
          r["reliable"], r["holds_others"]] for r in rows])
    walls = [r["wall_s"] for r in rows if "wall_s" in r]
    if walls:
        print(f"median wall time: {statistics.median(walls):.0f} s")
    for row in rows:
        print(f"seed {row['seed']}: {row['printed']}")
    write_json(args.results, {"study": args.study, "rows": rows})


if __name__ == "__main__":
    main()
