"""Overhead against the peer: the hand-written Optuna + wandb script vs `sweep run`, same work.

Whole processes, alternating peer and sweep, PAIRS pairs per mode, W&B offline for both:
  grid: the peer's `--mode grid` (6 fixed trials x 8 epochs, no pruning) vs bench/peer_grid.yaml
  tpe:  the peer's `--mode tpe --trials 10` vs bench/peer_tpe.yaml (different samples, so the
        ratio is informative only)
Reports the median wall-time ratio sweep/peer and sweep's per-trial overhead: wall time not
spent in training epochs (process start, imports, storage, W&B, checkpoints), per trial.

  python bench/overhead.py [--pairs 3] [--modes grid,tpe] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import BENCH, PEER, SWEEP, median, print_table, timed, write_json

STUDIES = {"grid": ("peer_grid.yaml", ["--mode", "grid"]),
           "tpe": ("peer_tpe.yaml", ["--mode", "tpe", "--trials", "10"])}
ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def training_seconds(root: Path, study: str) -> tuple[float, int]:
    """Seconds spent inside training epochs, summed over trials, and the trial count."""
    files = sorted((root / study / "trials").glob("*/metrics.jsonl"))
    total = sum(json.loads(line)["epoch_seconds"]
                for path in files for line in path.read_text().splitlines())
    return total, len(files)


def run_pair(mode: str, work: Path, index: int) -> dict:
    study_file, peer_args = STUDIES[mode]
    study = study_file.removesuffix(".yaml")
    peer_out, root = work / f"peer-{mode}-{index}", work / f"sweep-{mode}-{index}"
    peer_command = [sys.executable, str(PEER), *peer_args, "--out", str(peer_out)]
    sweep_command = [*SWEEP, "run", str(BENCH / study_file), "--root", str(root),
                     "--wandb", "offline", "--json"]
    if mode == "tpe":
        sweep_command += ["--trials", "10"]
    # Alternate which goes first so that neither always runs on a warmer machine.
    order = [("peer", peer_command), ("sweep", sweep_command)]
    if index % 2:
        order.reverse()
    seconds = {name: timed(command, work, ENV)[0] for name, command in order}
    trained, trials = training_seconds(root, study)
    return {"peer_s": seconds["peer"], "sweep_s": seconds["sweep"],
            "ratio": seconds["sweep"] / seconds["peer"],
            "sweep_overhead_per_trial_s": (seconds["sweep"] - trained) / trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--modes", default="grid,tpe")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    results, rows = {}, []
    with tempfile.TemporaryDirectory() as work:
        for mode in args.modes.split(","):
            pairs = [run_pair(mode, Path(work), i) for i in range(args.pairs)]
            summary = {key: median([p[key] for p in pairs]) for key in pairs[0]}
            results[mode] = {"pairs": pairs, "median": summary}
            rows.append([mode, summary["peer_s"], summary["sweep_s"], summary["ratio"],
                         summary["sweep_overhead_per_trial_s"]])
    print_table(f"sweep vs hand-written peer, median of {args.pairs} alternating pairs",
                ["mode", "peer s", "sweep s", "ratio", "sweep overhead s/trial"], rows)
    write_json(args.json_path, results)


if __name__ == "__main__":
    main()
