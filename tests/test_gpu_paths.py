"""The code paths bench/gpu.py measures on a GPU, exercised on the CPU."""
import math
import subprocess
import sys
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


def test_gpu_bench_runs_its_digits_cases_on_cpu():
    done = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--device", "cpu",
                           "--epochs", "2", "--only", "0,1,2"], capture_output=True, text=True,
                          cwd=BENCH, timeout=300)
    assert done.returncode == 0, done.stderr
    for label in ("digits, tensors on device", "digits, DataLoader", "digits, tensors, bf16"):
        assert label in done.stdout
