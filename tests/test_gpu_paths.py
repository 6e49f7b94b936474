"""The code paths bench/gpu.py measures on a GPU, exercised on the CPU."""
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from torchsweep.trainer import TrainConfig
from torchsweep.trainer.loop import fit

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_compiled_model_trains_and_saves_plain_weights(tmp_path):
    # Inductor compiles C++ for each graph (half a minute on 2 cores with a cold cache): one
    # training graph and one evaluation graph, with no last short batch and no noise-scale pass
    # to compile a second time.
    config = TrainConfig(epochs=1, compile=True, device="cpu", threads=2, model="mlp",
                         drop_last=True, evaluations_per_epoch=1, noise_scale_every=0)
    result = fit(config, out_dir=tmp_path)
    assert result.status == "completed" and math.isfinite(result.final["train_loss"])
    import torch

    state = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert not any(key.startswith("_orig_mod.") for key in state)


DIGITS_TRAIN = 1437       # the digits' training split at val_fraction 0.2: samples in an epoch
# The cases run (bench/gpu.py's CASES 0, 1, 2) and the settings each must have trained with.
BENCH_CASES = {"digits, tensors on device": {"loader": "tensor", "amp": "off"},
               "digits, DataLoader": {"loader": "dataloader", "num_workers": 2, "amp": "off"},
               "digits, tensors, bf16": {"loader": "tensor", "amp": "bf16"}}


def test_gpu_bench_runs_its_digits_cases_on_cpu(tmp_path):
    """Each figure the bench prints is one the trainer measured, in this run, on the settings
    its label names: the rate of its second epoch, over a whole training split, no faster than
    the split over that epoch's seconds, and every epoch within the bench's own wall time."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--device", "cpu",
                           "--epochs", "2", "--only", "0,1,2", "--json", tmp_path / "gpu.json"],
                          capture_output=True, text=True, cwd=BENCH, timeout=300)
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    cases = json.loads((tmp_path / "gpu.json").read_text())
    assert list(cases) == list(BENCH_CASES)
    printed = {line.rsplit(maxsplit=1)[0].strip(): line.split()[-1]
               for line in done.stdout.splitlines() if line.strip().startswith("digits")}
    for label, settings in BENCH_CASES.items():
        case = cases[label]
        config, epochs = case["config"], case["epochs"]
        assert {key: config[key] for key in settings} == settings, label
        assert (config["dataset"], config["device"], config["epochs"]) == ("digits", "cpu", 2)
        assert case["train_samples"] == DIGITS_TRAIN
        assert [(e["epoch"], e["samples_seen"]) for e in epochs] == \
            [(1, DIGITS_TRAIN), (2, 2 * DIGITS_TRAIN)], label
        for epoch in epochs:
            rate = epoch["samples_per_second"]
            assert math.isfinite(rate) and rate > 0, (label, epoch)
            # training is part of the epoch: the rate over it is at least the epoch's
            assert rate * epoch["epoch_seconds"] >= DIGITS_TRAIN * (1 - 1e-9), (label, epoch)
        assert epochs[1]["train_loss"] < epochs[0]["train_loss"], label   # it learned
        assert case["samples_per_second"] == epochs[1]["samples_per_second"]  # after warm-up
        assert printed[label] == f"{case['samples_per_second']:.3f}", done.stdout
    assert sum(e["epoch_seconds"] for case in cases.values() for e in case["epochs"]) < wall
    # bf16 autocast ran: the same seed and batches as the fp32 case, other numbers
    losses = {label: [e["train_loss"] for e in cases[label]["epochs"]] for label in cases}
    assert losses["digits, tensors, bf16"] != losses["digits, tensors on device"]
