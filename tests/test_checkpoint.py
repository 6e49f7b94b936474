"""trainer.checkpoint: atomic saves, refusing bad or hostile files, RNG state, exports."""
import json
import os
import pickle
import random
import shutil
import warnings

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

from torchsweep.trainer import atomic
from torchsweep.trainer.checkpoint import (
    FORMAT_VERSION,
    capture_rng,
    export_model,
    load_checkpoint,
    load_exported_model,
    newest_valid,
    restore_rng,
    save_atomic,
)
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.data import load_data, make_batches
from torchsweep.trainer.errors import CheckpointError, WriteError
from torchsweep.trainer.files import BEST, CONFIG, EXPORT_CONFIG, EXPORT_WEIGHTS, LAST
from torchsweep.trainer.loop import fit
from torchsweep.trainer.models import build_model

CPU = torch.device("cpu")


def payload(epoch=1, **extra):
    return {"format_version": FORMAT_VERSION, "epoch": epoch, "weights": torch.arange(4.0) * epoch,
            **extra}


def leftovers(directory):
    """Files other than the ones a test wrote on purpose: temp files from a failed save."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real 3-epoch run on digits; its folder is read-only for the tests that use it."""
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(epochs=3, batch_size=128, lr=0.1, seed=3, threads=1)
    result = fit(config, out_dir=out)
    assert result.status == "completed"
    return out, result


# --- atomic saves -------------------------------------------------------------------------

def test_save_atomic_writes_and_replaces(tmp_path):
    path = tmp_path / "state.pt"
    save_atomic(payload(1), path)
    assert load_checkpoint(path)["epoch"] == 1
    save_atomic(payload(2), path)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 2 and torch.equal(loaded["weights"], torch.arange(4.0) * 2)
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


class FailsToPickle:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_pickling_error_mid_write_keeps_previous_file(tmp_path):
    path = tmp_path / "state.pt"
    save_atomic(payload(1), path)
    before = path.read_bytes()
    big = torch.randn(100_000)  # written before the failing object is reached
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        save_atomic({"format_version": FORMAT_VERSION, "a": big, "b": FailsToPickle()}, path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert leftovers(tmp_path) == [] and [p.name for p in tmp_path.iterdir()] == ["state.pt"]


@pytest.mark.parametrize("failing, errno, message", [
    ("replace", 28, "No space left on device"),   # the disk fills up before the rename
    ("fsync", 5, "Input/output error"),           # the data never reaches the disk
])
def test_os_error_while_saving_keeps_previous_file(tmp_path, monkeypatch, failing, errno,
                                                   message):
    path = tmp_path / "state.pt"
    save_atomic(payload(1), path)

    def fail(*args):
        raise OSError(errno, message)

    monkeypatch.setattr(atomic.os, failing, fail)
    with pytest.raises(WriteError, match=f"could not write .*{message}"):
        save_atomic(payload(2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_first_save_that_fails_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(WriteError):
        save_atomic(payload(1), tmp_path / "state.pt")
    assert list(tmp_path.iterdir()) == []


# --- refusing files -----------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path)  # a folder is not a checkpoint either


def test_truncated_real_checkpoint(trained, tmp_path):
    run, _ = trained
    data = (run / LAST).read_bytes()
    for cut in (len(data) // 2, 100, 0):
        broken = tmp_path / f"cut{cut}.pt"
        broken.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"cannot load checkpoint .*cut{cut}.pt"):
            load_checkpoint(broken)


@pytest.mark.parametrize("content", [
    {"model": {"w": torch.zeros(2)}},               # a plain state dict
    {"format_version": 99, "epoch": 1},             # a future format
    torch.zeros(3),                                 # not even a dict
    [1, 2, 3],
])
def test_non_sweep_files(tmp_path, content):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match="not a sweep checkpoint"):
        load_checkpoint(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello, this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(path)


class Malicious:
    """Unpickling this calls open(marker, 'w'), creating the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    evil = {"format_version": FORMAT_VERSION, "epoch": 1, "model": Malicious(marker)}
    if writer == "torch":
        torch.save(evil, path)
    else:
        with open(path, "wb") as file:
            pickle.dump(evil, file)
    with warnings.catch_warnings(record=True) as raised, \
            pytest.raises(CheckpointError, match="refused as unsafe|cannot load checkpoint"):
        warnings.simplefilter("always")
        load_checkpoint(path)
    assert not marker.exists()
    assert [str(w.message) for w in raised] == []   # the error alone, no warning of torch's
    # the file really is hostile: an unsafe load runs its payload
    if writer == "torch":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as file:
            pickle.load(file)
    assert marker.exists()


def test_newest_valid(trained, tmp_path):
    run, result = trained
    for name in (LAST, BEST):
        shutil.copy(run / name, tmp_path / name)
    last = load_checkpoint(run / LAST)
    best = load_checkpoint(run / BEST)
    assert newest_valid(tmp_path)["epoch"] == last["epoch"] == 3
    # a truncated last.pt falls back to best.pt
    data = (tmp_path / LAST).read_bytes()
    (tmp_path / LAST).write_bytes(data[:len(data) // 2])
    fallback = newest_valid(tmp_path)
    assert fallback is not None and fallback["epoch"] == best["epoch"] == result.best_epoch
    assert fallback["history"] == best["history"]
    (tmp_path / BEST).unlink()
    assert newest_valid(tmp_path) is None
    assert newest_valid(tmp_path / "missing") is None


def test_newest_valid_prefers_higher_epoch(tmp_path):
    save_atomic(payload(5), tmp_path / BEST)
    save_atomic(payload(4), tmp_path / LAST)
    assert newest_valid(tmp_path)["epoch"] == 5


# --- RNG state ----------------------------------------------------------------------------

def draws():
    return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(),
            np.random.randn(), torch.rand(4).tolist(), torch.randn(2).tolist())


def test_rng_capture_restore():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.gauss(0, 1), np.random.randn()  # leave gaussian values cached in the states
    state = capture_rng()
    first = draws()
    restore_rng(state)
    assert draws() == first
    assert draws() != first


def test_rng_state_survives_a_checkpoint(tmp_path):
    random.seed(4), np.random.seed(5), torch.manual_seed(6)
    np.random.randn()
    save_atomic({"format_version": FORMAT_VERSION, "epoch": 1, "rng": capture_rng()},
                tmp_path / "rng.pt")
    expected = draws()
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    restore_rng(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert draws() == expected


# --- export -------------------------------------------------------------------------------

def accuracy_on_validation(model, config):
    data = load_data(config)
    _, val = make_batches(data, config, CPU, torch.Generator().manual_seed(0))
    correct = seen = 0
    with torch.no_grad():
        for x, y in val:
            correct += (model(x).argmax(1) == y).sum().item()
            seen += len(y)
    assert seen == len(data.val)
    return correct / seen


def test_export_round_trip(trained, tmp_path):
    run, result = trained
    target = tmp_path / "export"
    written = export_model(run / BEST, target)
    assert written == target / EXPORT_WEIGHTS
    assert sorted(p.name for p in target.iterdir()) == sorted({EXPORT_WEIGHTS, EXPORT_CONFIG})
    best = load_checkpoint(run / BEST)
    assert json.loads((target / EXPORT_CONFIG).read_text()) == best["config"] == \
        result.config.to_dict()
    with safe_open(str(target / EXPORT_WEIGHTS), framework="pt") as file:
        metadata = file.metadata()
        assert set(file.keys()) == set(best["model"])
    assert json.loads(metadata["input_shape"]) == [1, 8, 8]
    assert metadata["num_classes"] == "10" and metadata["epoch"] == str(result.best_epoch)

    model, config, input_shape = load_exported_model(target)
    assert input_shape == (1, 8, 8)
    assert config == result.config
    assert not model.training
    for key, value in best["model"].items():
        assert torch.equal(model.state_dict()[key], value)
    val_acc = accuracy_on_validation(model, config)
    assert val_acc == result.best["val_acc"] == best["history"][result.best_epoch - 1]["val_acc"]
    assert val_acc > 0.5  # it learned something, so equality is not trivial


WRAPPERS = {"compiled": torch.compile, "DataParallel": nn.DataParallel,
            "DataParallel of compiled": lambda model: nn.DataParallel(torch.compile(model)),
            "compiled DataParallel": lambda model: torch.compile(nn.DataParallel(model))}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS)
def test_export_takes_a_model_saved_wrapped(trained, tmp_path, wrap):
    """torch.compile (`_orig_mod.`) and DataParallel or DDP (`module.`), in either order."""
    run, result = trained
    state = load_checkpoint(run / BEST)
    keys = list(state["model"])
    model = build_model(result.config, (1, 8, 8), 10)
    model.load_state_dict(state["model"])
    state["model"] = wrap(model).state_dict()
    assert set(state["model"]).isdisjoint(keys)     # the wrappers' prefixes are there
    save_atomic(state, tmp_path / "wrapped.pt")
    export_model(tmp_path / "wrapped.pt", tmp_path / "export")
    with safe_open(str(tmp_path / "export" / EXPORT_WEIGHTS), framework="pt") as file:
        exported = set(file.keys())
    assert exported == set(keys)
    assert not any("_orig_mod." in k or k.startswith("module.") for k in exported)
    model, config, _ = load_exported_model(tmp_path / "export")
    assert accuracy_on_validation(model, config) == result.best["val_acc"]


def test_load_exported_model_missing_files(trained, tmp_path):
    with pytest.raises(CheckpointError, match="is missing"):
        load_exported_model(tmp_path)
    # A program study's export (its own files, no model): not told to export again.
    program_export = tmp_path / "program"
    program_export.mkdir()
    (program_export / "params.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not the export of a trainer model") as refused:
        load_exported_model(program_export)
    assert "sweep best" not in str(refused.value)
    run, _ = trained
    export_model(run / LAST, tmp_path / "export")
    os.remove(tmp_path / "export" / EXPORT_CONFIG)
    with pytest.raises(CheckpointError, match=f"{EXPORT_CONFIG} is missing"):
        load_exported_model(tmp_path / "export")


def test_export_of_a_bad_checkpoint_fails_cleanly(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError):
        export_model(tmp_path / "bad.pt", tmp_path / "export")


def test_run_folder_config_matches_checkpoint(trained):
    run, result = trained
    assert json.loads((run / CONFIG).read_text()) == load_checkpoint(run / LAST)["config"]
