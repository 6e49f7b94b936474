"""What Study.run costs over a plain loop: N trials of one function (about 2 s each) through
`ts.Study(...).run(train, trials=N)` against the same function called N times in a loop, each
call with a W&B run of its own; W&B offline in both, the same values in the same order.

The function trains a small MLP on random data for EPOCHS epochs, reports val_loss each epoch
and saves its state: through the trial (`trial.report`, `trial.save_checkpoint`) in the study,
through wandb.log and torch.save in the loop, as a script without sweep would. The study's one
worker is a process of its own (the default): its start and torch's import there are part of
its time, as they are of a user's. Each mode runs in a fresh process, alternating, PAIRS pairs.

  nice -n 19 python bench/function_overhead.py [--trials 10] [--pairs 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import median, print_table, write_json

EPOCHS = 10
STEPS = int(os.environ.get("BENCH_STEPS", "200"))   # SGD steps an epoch: about 0.2 s idle
# One torch thread in both modes: the shared machine's cores are not all ours.
ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
# No pruning: each trial trains every epoch in both modes.
STUDY = {"name": "overhead", "method": "grid", "metric": {"name": "val_loss"},
         "parameters": {"lr": {"values": []}}}


def learning_rates(trials: int) -> list[float]:
    return [0.01 * (1 + index) for index in range(trials)]


def train(trial) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    inputs, targets = torch.randn(512, 64), torch.randn(512, 1)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=trial.params["lr"])
    for epoch in range(EPOCHS):
        for _ in range(STEPS):
            loss = nn.functional.mse_loss(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        trial.report(val_loss=loss.item(), step=epoch)
        trial.save_checkpoint({"model": model.state_dict(), "epoch": epoch + 1})


class PlainTrial:
    """What the loop gives `train`: wandb.log for report, torch.save for the checkpoint."""

    def __init__(self, params: dict, run, folder: Path):
        self.params, self.run, self.folder = params, run, folder

    def report(self, step: int, **metrics: float) -> None:
        self.run.log({**metrics, "epoch": step})

    def save_checkpoint(self, state: dict) -> None:
        import torch

        torch.save(state, self.folder / "last.pt")


def plain(trials: int, work: Path) -> None:
    import torch  # noqa: F401  (imported by the study's worker too, inside its time)
    import wandb

    for index, lr in enumerate(learning_rates(trials)):
        folder = work / f"trial{index}"
        folder.mkdir(parents=True)
        with wandb.init(project="overhead", dir=str(work), config={"lr": lr},
                        reinit="create_new") as run:
            train(PlainTrial({"lr": lr}, run, folder))


def study(trials: int, work: Path) -> None:
    import torchsweep as ts

    config = {**STUDY, "parameters": {"lr": {"values": learning_rates(trials)}}}
    result = ts.Study(config, root=work, wandb="offline").run(train, trials=trials, workers=1)
    assert [t.state for t in result.trials] == ["completed"] * trials


def timed_mode(mode: str, trials: int, work: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--run", mode, "--trials", str(trials),
                           "--work", str(work)], env={**os.environ, **ENV},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--json")
    parser.add_argument("--run", choices=("plain", "study"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        (plain if args.run == "plain" else study)(args.trials, Path(args.work))
        return
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as work:
        for index in range(args.pairs):
            seconds = {mode: timed_mode(mode, args.trials, Path(work) / f"{mode}{index}")
                       for mode in ("plain", "study")}
            ratios.append(seconds["study"] / seconds["plain"])
            rows.append([index, f"{seconds['plain']:.1f}", f"{seconds['study']:.1f}",
                         f"{ratios[-1]:.3f}",
                         f"{(seconds['study'] - seconds['plain']) / args.trials:.2f}"])
    load = os.getloadavg()[0]
    print_table(f"{args.trials} trials of {EPOCHS} epochs, W&B offline (load {load:.1f})",
                ["pair", "plain loop s", "Study.run s", "ratio", "overhead s/trial"], rows)
    print(f"median ratio Study.run / plain loop: {median(ratios):.3f}; a plain trial took "
          f"{float(rows[0][1]) / args.trials:.2f} s")
    write_json(args.json, {"trials": args.trials, "pairs": rows, "median_ratio": median(ratios),
                           "load": load})


if __name__ == "__main__":
    main()
