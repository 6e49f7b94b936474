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


def samples_per_second(settings: dict, device: str, epochs: int) -> float:
    config = TrainConfig.from_dict({"device": device, "epochs": epochs, "batch_size": 128,
                                    "scheduler": "constant", **settings})
    history = fit(config).history
    return statistics.median(m["samples_per_second"] for m in history[1:] or history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", help="comma-separated case numbers (0-based)")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    chosen = [CASES[int(i)] for i in args.only.split(",")] if args.only else CASES
    rows = [[label, samples_per_second(settings, args.device, args.epochs)]
            for label, settings in chosen]
    print_table(f"training core on {args.device}: samples/s", ["case", "samples/s"], rows)
    write_json(args.json_path, {label: rate for label, rate in rows})


if __name__ == "__main__":
    main()
