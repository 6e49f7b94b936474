"""Training throughput: the training core's samples/s against a minimal hand-written loop.

Same model (cnn), data (digits train split), batch size, optimizer and threads; both paths:
in-memory tensors indexed per batch, and a DataLoader over the same tensors. The first epoch is
a warm-up and not counted; both run 3 times, alternating, and the median epoch is reported. Goal: core >= 0.95x the hand loop.

Then the gradient noise scale's cost: the training core (tensor loader) with noise_scale_every
at its default and at 0, alternating, ROUNDS times; the median epoch of each and the share of
throughput the measurements cost. Goal: <= 5%.

  python bench/throughput.py [--epochs 8] [--batch-size 64] [--threads 2] [--rounds 3]
                             [--noise-only] [--json FILE]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import print_table, write_json
from torch.utils.data import DataLoader, TensorDataset

from torchsweep.trainer import TrainConfig
from torchsweep.trainer.config import FIELDS
from torchsweep.trainer.data import load_data
from torchsweep.trainer.loop import fit
from torchsweep.trainer.models import build_model

ROUNDS = 3
NOISE_EVERY = FIELDS["noise_scale_every"].default


def hand_loop(config: TrainConfig, loader: str) -> list[float]:
    """What a practitioner writes: no checkpoints, no metrics beyond the loss; samples/s per epoch."""
    torch.manual_seed(config.seed)
    data = load_data(config)
    x_train, y_train = data.tensors[0], data.tensors[1]
    model = build_model(config, data.input_shape, data.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    criterion = torch.nn.CrossEntropyLoss()
    batches = DataLoader(TensorDataset(x_train, y_train), batch_size=config.batch_size,
                         shuffle=True)
    rates = []
    for _ in range(config.epochs):
        started = time.perf_counter()
        if loader == "tensor":
            order = torch.randperm(len(x_train))
            epoch = ((x_train[order[i:i + config.batch_size]], y_train[order[i:i + config.batch_size]])
                     for i in range(0, len(x_train), config.batch_size))
        else:
            epoch = batches
        for inputs, targets in epoch:
            optimizer.zero_grad()
            criterion(model(inputs), targets).backward()
            optimizer.step()
        rates.append(len(x_train) / (time.perf_counter() - started))
    return rates


def core(config: TrainConfig) -> list[float]:
    return [m["samples_per_second"] for m in fit(config).history]


def noise_scale_cost(config: TrainConfig, rounds: int) -> dict[str, float]:
    """The training core with the noise scale off, measured every NOISE_EVERY steps (the
    default) and at every step (the cost of one measurement, well above the noise of a shared
    machine). Two clocks: the median epoch's samples/s (wall time), and the median CPU seconds
    of a whole run (setup, training, evaluation), which other processes on the machine do not
    inflate as much; with threads=1 it is the better measure there."""
    rates: dict[int, list[float]] = {0: [], NOISE_EVERY: [], 1: []}
    cpu: dict[int, list[float]] = {every: [] for every in rates}
    for _ in range(rounds):   # alternated, so load from elsewhere hits all alike
        for every in rates:
            started = time.process_time()
            rates[every] += core(config.replace(noise_scale_every=every))[1:]
            cpu[every].append(time.process_time() - started)
    wall = {every: statistics.median(values) for every, values in rates.items()}
    cpu = {every: statistics.median(values) for every, values in cpu.items()}
    return {"every": NOISE_EVERY, "samples_per_s": wall, "cpu_seconds": cpu,
            "cost_percent_wall": {e: 100 * (1 - wall[e] / wall[0]) for e in (NOISE_EVERY, 1)},
            "cost_percent_cpu": {e: 100 * (cpu[e] / cpu[0] - 1) for e in (NOISE_EVERY, 1)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--noise-only", action="store_true",
                        help="only the noise scale's cost, not the hand-loop comparison")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results, rows = {}, []
    for loader in () if args.noise_only else ("tensor", "dataloader"):
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, loader=loader,
                             threads=args.threads, scheduler="constant")
        # Alternate the two, ROUNDS times, so load from elsewhere hits both alike.
        hand, ours = [], []
        for _ in range(args.rounds):
            hand += hand_loop(config, loader)[1:]
            ours += core(config)[1:]
        hand, ours = statistics.median(hand), statistics.median(ours)
        results[loader] = {"hand_samples_per_s": hand, "core_samples_per_s": ours,
                           "ratio": ours / hand}
        rows.append([loader, hand, ours, ours / hand])
    if rows:
        print_table("training throughput on digits (samples/s, median epoch after warm-up)",
                    ["path", "hand loop", "training core", "ratio"], rows)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, loader="tensor",
                         threads=args.threads, scheduler="constant")
    noise = results["noise_scale"] = noise_scale_cost(config, args.rounds)
    print_table("gradient noise scale cost on digits (median epoch samples/s after warm-up; "
                "median CPU seconds per run)",
                ["measured every", "samples/s", "cost % (wall)", "CPU s", "cost % (CPU)"],
                [[f"{every} steps" if every else "never", noise["samples_per_s"][every],
                  noise["cost_percent_wall"].get(every, ""), noise["cpu_seconds"][every],
                  noise["cost_percent_cpu"].get(every, "")] for every in (0, NOISE_EVERY, 1)])
    write_json(args.json_path, results)


if __name__ == "__main__":
    main()
