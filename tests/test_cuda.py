"""The CUDA path on a real GPU: training in fp32, bf16 and fp16, channels_last and the DataLoader
on the device, a checkpoint written on the GPU used and resumed on the CPU, the export of a
GPU trial, `sweep run --gpus` through the CLI, and a genuine CUDA out-of-memory error in one
trial of a sweep, freed before the next. Exact resume and `sweep train` on the GPU are CUDA
cases of tests/test_loop.py and tests/test_cli_train.py.

Skipped as a whole where torch sees no CUDA device (CI has none): run it on a GPU machine.
"""
import json
import math
import os
import time
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA device: torch.cuda.is_available() is False on this machine",
                allow_module_level=True)

from cli_helpers import sweep_json
from failing_models import MEMORY_LOG
from worker_helpers import QUIET, trials

from torchsweep.trainer import TrainConfig, load_exported_model
from torchsweep.trainer.checkpoint import load_checkpoint
from torchsweep.trainer.data import load_data, make_batches
from torchsweep.trainer.files import CONFIG, LAST
from torchsweep.trainer.loop import fit
from torchsweep.trainer.models import build_model

CUDA = TrainConfig(epochs=3, device="cuda", threads=1)
CPU = torch.device("cpu")
GPU_LOG = "SWEEP_TEST_GPU_LOG"


def stop_after(epoch):
    return lambda metrics: metrics["epoch"] >= epoch


def raw_tensors(path):
    """The checkpoint's model tensors where torch.save found them (no map_location)."""
    return torch.load(path, weights_only=True)["model"].values()


def accuracy_on_cpu(model, config):
    """The validation accuracy of `model` (on the CPU) over config's validation split."""
    data = load_data(config)
    _, val = make_batches(data, config.replace(device="cpu"), CPU, torch.Generator())
    correct = seen = 0
    with torch.no_grad():
        for x, y in val:
            correct += (model(x).argmax(1) == y).sum().item()
            seen += len(y)
    return correct / seen


# --- fit on the GPU, each precision ---------------------------------------------------------

@pytest.fixture(scope="module")
def precision_runs(tmp_path_factory):
    runs = {}
    for amp in ("off", "bf16", "fp16"):
        out = tmp_path_factory.mktemp(f"amp-{amp}")
        torch.cuda.reset_peak_memory_stats()
        result = fit(CUDA.replace(amp=amp), out_dir=out)
        runs[amp] = result, out, torch.cuda.max_memory_allocated()
    return runs


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_fit_on_cuda_learns_digits(precision_runs, amp):
    result, out, peak = precision_runs[amp]
    assert result.status == "completed" and result.epochs_run == 3
    for metrics in result.history:
        assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert result.final["val_acc"] > 0.8
    assert result.final["train_loss"] < result.history[0]["train_loss"]
    assert peak > 0                                     # the CUDA allocator did the work
    assert all(t.is_cuda for t in raw_tensors(out / LAST))
    scaler = torch.load(out / LAST, weights_only=True)["scaler"]
    if amp == "fp16":   # loss scaling ran, and settled on a usable scale
        assert math.isfinite(scaler["scale"]) and scaler["scale"] >= 1
    else:               # bf16 has fp32's range: no scaler
        assert scaler == {}


def test_mixed_precision_really_ran(precision_runs):
    finals = {amp: precision_runs[amp][0].final for amp in ("off", "bf16", "fp16")}
    for amp in ("bf16", "fp16"):   # autocast changed the numbers, not what was learned
        assert finals[amp]["train_loss"] != finals["off"]["train_loss"]
        assert finals[amp]["val_acc"] == pytest.approx(finals["off"]["val_acc"], abs=0.06)


@pytest.mark.parametrize("settings", [
    dict(channels_last=True),
    dict(loader="dataloader"),
    dict(loader="dataloader", num_workers=2, channels_last=True, amp="bf16"),
], ids=["channels_last", "dataloader", "dataloader-workers-channels_last-bf16"])
def test_channels_last_and_dataloader_on_cuda(precision_runs, settings):
    result = fit(CUDA.replace(**settings))
    assert result.status == "completed" and result.epochs_run == 3
    assert all(math.isfinite(m["train_loss"]) for m in result.history)
    assert result.final["val_acc"] > 0.8
    plain = precision_runs["off"][0]
    assert result.final["val_acc"] == pytest.approx(plain.final["val_acc"], abs=0.06)


# --- checkpoints written on the GPU ---------------------------------------------------------

def test_checkpoint_written_on_cuda_loads_and_resumes_on_cpu(tmp_path):
    config = CUDA.replace(epochs=3)
    stopped = fit(config, out_dir=tmp_path, callbacks=[stop_after(2)])
    assert all(t.is_cuda for t in raw_tensors(tmp_path / LAST))

    state = load_checkpoint(tmp_path / LAST)           # maps every tensor to the CPU
    assert all(t.device == CPU for t in state["model"].values())
    assert state["config"]["device"] == "cuda"
    model = build_model(TrainConfig.from_dict(state["config"]), tuple(state["input_shape"]),
                        state["num_classes"])
    model.load_state_dict(state["model"])
    # The GPU's weights score on the CPU what they scored on the GPU (a near-tie may flip).
    accuracy = accuracy_on_cpu(model.eval(), config)
    assert accuracy == pytest.approx(stopped.final["val_acc"], abs=2 / 360)

    # device is an execution setting: a GPU run may be continued on the CPU.
    resumed = fit(config.replace(device="cpu"), out_dir=tmp_path, resume_from=tmp_path / LAST)
    assert resumed.status == "completed" and resumed.epochs_run == 3
    assert resumed.history[:2] == stopped.history
    assert math.isfinite(resumed.final["train_loss"]) and resumed.final["val_acc"] > 0.8
    assert not any(t.is_cuda for t in raw_tensors(tmp_path / LAST))


# --- the CLI on the GPU ---------------------------------------------------------------------

def test_export_of_a_cuda_trial_loads_on_cpu(tmp_path):
    report = sweep_json("run", "on_gpu", "--param", "lr=0.05,0.1", "--sampler", "grid",
                        "--pruner", "none", "--set", "epochs=2", "--set", "device=cuda",
                        "--root", tmp_path, *QUIET)
    assert report["ran"] == 2 and [t["state"] for t in report["trials"]] == ["completed"] * 2
    best = sweep_json("best", "on_gpu", "--export", tmp_path / "export", "--root", tmp_path)
    assert best["export"]["trial"] == best["best"]["number"]
    checkpoint = load_checkpoint(tmp_path / best["best"]["checkpoint"])
    assert checkpoint["config"]["device"] == "cuda"

    model, config, _ = load_exported_model(tmp_path / "export")
    assert config.device == "cuda" and not model.training
    assert all(p.device == CPU for p in model.parameters())
    for key, value in checkpoint["model"].items():
        assert torch.equal(model.state_dict()[key], value), key
    accuracy = accuracy_on_cpu(model, config)
    assert accuracy > 0.7
    assert accuracy == pytest.approx(best["best"]["best_metrics"]["val_acc"], abs=2 / 360)
    # ...and the exported model runs on the GPU again, agreeing with the CPU.
    x = torch.randn(16, 1, 8, 8)
    with torch.no_grad():
        on_cpu, on_gpu = model(x), model.cuda()(x.cuda()).cpu()
    assert torch.allclose(on_cpu, on_gpu, rtol=1e-3, atol=1e-3)


WORKERS_MET_S = 120   # seconds a worker's first trial waits for the other worker to start one


def record_gpu(input_shape, num_classes, config):
    """A model factory (`--set model=test_cuda:record_gpu`): notes the GPUs its worker process
    sees in the folder named by $SWEEP_TEST_GPU_LOG, then builds the mlp. A trial waits until
    two worker processes have noted theirs, so a sweep that runs with one worker fails."""
    note = {"pid": os.getpid(), "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "count": torch.cuda.device_count(), "device": config.device}
    folder = Path(os.environ[GPU_LOG])
    (folder / f"{os.getpid()}-{time.time_ns()}.json").write_text(json.dumps(note))
    deadline = time.monotonic() + WORKERS_MET_S
    while len({path.name.split("-")[0] for path in folder.glob("*.json")}) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no second worker started a trial within {WORKERS_MET_S} s")
        time.sleep(0.1)
    return build_model(config.replace(model="mlp"), input_shape, num_classes)


def test_two_workers_share_gpu_0(tmp_path, monkeypatch):
    seen = tmp_path / "seen"
    seen.mkdir()
    monkeypatch.setenv(GPU_LOG, str(seen))      # the spawned workers inherit it
    report = sweep_json("run", "shared", "--param", "lr=log:0.01..0.2", "--set", "epochs=2",
                        "--set", "model=test_cuda:record_gpu", "--set", "width=8",
                        "--sampler", "random", "--pruner", "none", "--trials", "6",
                        "--gpus", "0", "--workers-per-gpu", "2", "--root", tmp_path, *QUIET)
    assert report["ran"] == 6
    assert sorted(t["number"] for t in report["trials"]) == list(range(6))
    assert [t["state"] for t in report["trials"]] == ["completed"] * 6
    assert all(t["best_metrics"]["val_acc"] > 0.3 for t in report["trials"])
    notes = [json.loads(p.read_text()) for p in seen.iterdir()]
    assert len(notes) == 6                                  # one model built per trial
    assert {n["visible"] for n in notes} == {"0"}           # each worker sees GPU 0 only...
    assert {n["count"] for n in notes} == {1}
    assert {n["device"] for n in notes} == {"cuda"}         # ...and trains on it
    workers = {n["pid"] for n in notes}
    assert os.getpid() not in workers and len(workers) == 2   # both workers ran trials
    for number in range(6):
        saved = json.loads((tmp_path / "shared" / "trials" / f"{number:05d}" / CONFIG).read_text())
        assert saved["device"] == "cuda"


# --- out of memory ----------------------------------------------------------------------------
# The claim of tests/test_recovery.py's CPU out-of-memory test, on the GPU, with the same model
# (failing_models:holds_width_mib): a trial fails partway, holding most of the memory there is;
# the trial after it fits only if that memory was given back.

BLOCK = 256 * 2 ** 20          # bytes: holds_width_mib's blocks
CAP_BYTES = 5 * BLOCK          # what this process's CUDA allocator may reserve in this test
SLACK = 2 ** 27                # bytes of small allocations (data, the mlp) between trials


@pytest.fixture
def memory_capped():
    """This process's CUDA allocator limited to CAP_BYTES, as on a GPU shared with others."""
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(CAP_BYTES / total, 0)
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()


def test_a_real_cuda_out_of_memory_is_freed_and_the_sweep_goes_on(tmp_path, memory_capped,
                                                                   monkeypatch):
    """Three trials in this process under a 1280 MiB cap: 512 and 768 MiB fit; 4096 MiB fails
    in CUDA's allocator as the model moves to the GPU, four 256 MiB blocks (1024 MiB) there by
    then. The grid (seed 0) runs it second: the trial after it fits only if the failed trial's
    blocks were freed, and starts with the allocator's cache given back to the device (what
    other processes on the GPU, `--workers-per-gpu`, need) only if it was emptied."""
    log = tmp_path / "memory.jsonl"
    monkeypatch.setenv(MEMORY_LOG, str(log))
    before = torch.cuda.memory_allocated()
    report = sweep_json("run", "oom", "--param", "width=512,4096,768", "--sampler", "grid",
                        "--seed", "0", "--pruner", "none", "--set", "epochs=1",
                        "--set", "model=failing_models:holds_width_mib", "--set", "device=cuda",
                        "--max-failures", "1", "--root", tmp_path, *QUIET)
    assert report["ran"] == 3
    outcome = {t["params"]["width"]: (t["state"], t["reason"]) for t in report["trials"]}
    assert outcome == {512: ("completed", None), 4096: ("pruned", "out_of_memory"),
                       768: ("completed", None)}
    oom, = [t for t in trials("oom", tmp_path) if t.user_attrs.get("reason") == "out_of_memory"]
    assert "OutOfMemoryError" in oom.user_attrs["error"]
    assert "CUDA out of memory" in oom.user_attrs["error"]      # the allocator's own words
    started = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["width"] for entry in started][1] == 4096      # and a trial ran after it,
    # which started where the failed one had: its blocks were freed...
    assert started[2]["cuda_allocated"] < started[1]["cuda_allocated"] + SLACK
    # ...and given back to the device, not kept in this process's cache.
    assert started[2]["cuda_reserved"] < started[0]["cuda_reserved"] + SLACK
    assert torch.cuda.memory_allocated() < before + SLACK        # nothing of the trials stayed
