"""The GPU path: training-core throughput under the settings that matter on a GPU.

Samples/s (median epoch after a warm-up) for:
  - fake CIFAR-10-sized data (3x32x32 FakeData through a DataLoader, resnet18),
  - digits with GPU-resident tensors against the DataLoader path,
  - bf16 autocast, channels_last, and torch.compile, each on and off.
Runs on CPU too (`--device cpu`), which is how its code paths are tested without a GPU.

  python bench/gpu.py [--device cuda] [--epochs 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import statistics

from common import print_table, write_json

from torchsweep.trainer import TrainConfig
from torchsweep.trainer.loop import fit

# (label, settings): each row changes one thing against its baseline row.
CASES = [
    ("digits, tensors on device", {"loader": "tensor"}),
    ("digits, DataLoader", {"loader": "dataloader", "num_workers": 2}),
    ("digits, tensors, bf16", {"loader": "tensor", "amp": "bf16"}),
    ("fake 3x32x32 resnet18, DataLoader", {"dataset": "fake", "model": "resnet18",
                                           "num_workers": 4, "batch_size": 256}),
    ("fake resnet18, bf16", {"dataset": "fake", "model": "resnet18", "num_workers": 4,
                             "batch_size": 256, "amp": "bf16"}),
    ("fake resnet18, bf16 + channels_last", {"dataset": "fake", "model": "resnet18",
                                             "num_workers": 4, "batch_size": 256, "amp": "bf16",
                                             "channels_last": True}),
    ("fake resnet18, bf16 + channels_last + compile", {
        "dataset": "fake", "model": "resnet18", "num_workers": 4, "batch_size": 256,
        "amp": "bf16", "channels_last": True, "compile": True}),
]


EPOCH_FIGURES = ("epoch", "samples_seen", "epoch_seconds", "samples_per_second", "train_loss")


def measure(settings: dict, device: str, epochs: int) -> dict:
    """One case: samples/s (the median epoch after the first, a warm-up) and what it rests on,
    as the trainer reported it: the config it ran, the training split's size, each epoch."""
    config = TrainConfig.from_dict({"device": device, "epochs": epochs, "batch_size": 128,
                                    "scheduler": "constant", **settings})
    result = fit(config)
    timed = result.history[1:] or result.history
    return {"samples_per_second": statistics.median(m["samples_per_second"] for m in timed),
            "config": result.config.to_dict(), "train_samples": result.train_samples,
            "epochs": [{key: m[key] for key in EPOCH_FIGURES} for m in result.history]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", help="comma-separated case numbers (0-based)")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    chosen = [CASES[int(i)] for i in args.only.split(",")] if args.only else CASES
    measured = {label: measure(settings, args.device, args.epochs) for label, settings in chosen}
    print_table(f"training core on {args.device}: samples/s", ["case", "samples/s"],
                [[label, case["samples_per_second"]] for label, case in measured.items()])
    write_json(args.json_path, measured)


if __name__ == "__main__":
    main()
