"""trainer.loop.fit on digits: outputs, callbacks, exact resume, divergence and every option."""
import json
import math

import pytest
import torch
from cli_helpers import without_timing

from torchsweep.trainer.checkpoint import load_checkpoint
from torchsweep.trainer.config import EPOCH_DIAGNOSTICS, EPOCH_METRICS, TrainConfig
from torchsweep.trainer.errors import CheckpointError, ConfigError
from torchsweep.trainer.files import BEST, CONFIG, EVALUATIONS, LAST, METRICS
from torchsweep.trainer.loop import fit
from torchsweep.trainer.models import build_model

# One intra-op thread: these models are tiny, and a second thread only adds spin-waiting
# that makes timings erratic when the cores are shared.
# On the CPU: these tests compare runs bit for bit, which cuDNN's default kernels do not
# promise on a GPU; the exact-resume test pins them for its CUDA cases.
BASE = TrainConfig(epochs=2, threads=1, device="cpu")
NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
KEYS = {"epoch", *EPOCH_METRICS, *EPOCH_DIAGNOSTICS}   # grad_noise_scale: measured by default


def read_metrics(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def stop_after(epoch):
    return lambda metrics: metrics["epoch"] >= epoch


# --- a plain run --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    config = BASE.replace(epochs=3)
    return fit(config, out_dir=out), out


def test_history_has_every_metric(run):
    result, _ = run
    assert result.status == "completed" and result.epochs_run == 3
    for epoch, metrics in enumerate(result.history, start=1):
        assert set(metrics) == KEYS
        assert metrics["epoch"] == epoch
        assert all(math.isfinite(v) for v in metrics.values())
        assert 0 <= metrics["train_acc"] <= 1 and 0 <= metrics["val_acc"] <= 1
        assert metrics["epoch_seconds"] > 0 and metrics["samples_per_second"] > 0
    assert result.history[-1]["val_acc"] > 0.8  # it learns digits in 3 epochs
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # default cosine over 3 epochs: each epoch reports the lr it trained with
    lrs = [m["lr"] for m in result.history]
    assert lrs == pytest.approx([0.05 * (1 + math.cos(math.pi * e / 3)) / 2 for e in (0, 1, 2)],
                                abs=1e-12)


def test_best_epoch_is_max_val_acc(run):
    result, _ = run
    accs = [m["val_acc"] for m in result.history]
    assert result.monitor == "val_acc"
    assert result.best_epoch == accs.index(max(accs)) + 1
    assert result.best == result.history[result.best_epoch - 1]
    assert result.final == result.history[-1]


def test_run_folder(run):
    result, out = run
    resolved = result.config.to_dict()
    assert json.loads((out / CONFIG).read_text()) == resolved
    assert read_metrics(out / METRICS) == result.history
    last, best = load_checkpoint(out / LAST), load_checkpoint(out / BEST)
    assert last["config"] == resolved and best["config"] == resolved
    assert last["epoch"] == 3 and last["history"] == result.history
    assert best["epoch"] == result.best_epoch
    assert best["history"] == result.history[:result.best_epoch]
    assert last["input_shape"] == [1, 8, 8] and last["num_classes"] == 10
    assert read_metrics(out / EVALUATIONS) == result.evaluations == last["evaluations"]
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG, METRICS, EVALUATIONS, LAST,
                                                            BEST])
    paths = result.to_dict()["paths"]
    assert paths[LAST] == str(out / LAST) and result.to_dict()["epochs_run"] == 3


def test_without_out_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = fit(BASE.replace(epochs=1))
    assert result.status == "completed" and result.out_dir is None
    assert list(tmp_path.iterdir()) == []


def test_same_seed_same_run_different_seed_different_run():
    a, b, c = fit(BASE), fit(BASE), fit(BASE.replace(seed=1))
    assert without_timing(a.history) == without_timing(b.history)
    assert without_timing(a.history) != without_timing(c.history)


# --- callbacks ----------------------------------------------------------------------------

def test_callback_stops_the_run(tmp_path):
    seen_a, seen_b = [], []

    def first(metrics):
        seen_a.append(metrics["epoch"])
        return metrics["epoch"] == 2

    def second(metrics):
        seen_b.append(dict(metrics))
        return None

    result = fit(BASE.replace(epochs=5), out_dir=tmp_path, callbacks=[first, second])
    assert result.status == "stopped" and result.epochs_run == 2
    assert seen_a == [1, 2]
    assert [m["epoch"] for m in seen_b] == [1, 2]  # called even when an earlier one stops
    assert seen_b == result.history
    assert load_checkpoint(tmp_path / LAST)["epoch"] == 2
    assert len(read_metrics(tmp_path / METRICS)) == 2


def test_callback_cannot_change_the_history():
    def meddle(metrics):
        metrics["val_acc"] = -1.0

    result = fit(BASE, callbacks=[meddle])
    assert all(m["val_acc"] >= 0 for m in result.history)


# --- exact resume -------------------------------------------------------------------------

def assert_same_model(a, b):
    state_a, state_b = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


@pytest.mark.parametrize("settings", [
    dict(loader="tensor"),
    dict(loader="dataloader"),
    dict(loader="tensor", warmup_epochs=1, scheduler="cosine"),
    dict(loader="dataloader", scheduler="onecycle", optimizer="adam", lr=0.01),
    dict(loader="tensor", scheduler="onecycle", drop_last=True, batch_size=100),
    dict(loader="tensor", scheduler="plateau", patience=0, optimizer="rmsprop", lr=0.001,
         warmup_epochs=1),
    dict(loader="tensor", warmup_epochs=3, scheduler="step", step_size=1, gamma=0.5),
    # Measured every 4th step of 15 a epoch, the last batch 37 samples: the steps that measure
    # and the noise scale's averages carry over the resume.
    dict(loader="tensor", noise_scale_every=4, batch_size=100),
    pytest.param(dict(device="cuda", model="mlp"), marks=NEEDS_CUDA),
    pytest.param(dict(device="cuda", amp="fp16", loader="dataloader", warmup_epochs=1),
                 marks=NEEDS_CUDA),
], ids=["tensor", "dataloader", "warmup-cosine", "onecycle-dataloader", "onecycle-droplast",
        "plateau-rmsprop-warmup", "stop-mid-warmup", "noise-scale", "cuda-mlp", "cuda-fp16-dataloader-warmup"])
def test_resume_is_equivalent_to_a_straight_run(tmp_path, monkeypatch, settings):
    # cuDNN's default kernels may sum in a different order each run: pin them, so that on a
    # GPU a straight run can be reproduced at all, which is what this test compares against.
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    config = BASE.replace(epochs=4, **settings)
    straight = fit(config, out_dir=tmp_path / "a")

    stopped = fit(config, out_dir=tmp_path / "b", callbacks=[stop_after(2)])
    assert stopped.status == "stopped" and stopped.epochs_run == 2
    resumed = fit(config, out_dir=tmp_path / "b", resume_from=tmp_path / "b" / LAST)
    assert resumed.status == "completed" and resumed.epochs_run == 4
    assert resumed.history[:2] == stopped.history  # carried over from the checkpoint as is

    assert without_timing(resumed.history) == without_timing(straight.history)
    assert resumed.best_epoch == straight.best_epoch
    assert resumed.best_reliability == straight.best_reliability is not None
    # Measured (on by default); an epoch whose gradient is lost in its noise has no value.
    assert any("grad_noise_scale" in m for m in straight.history)
    assert_same_model(tmp_path / "a" / LAST, tmp_path / "b" / LAST)
    assert_same_model(tmp_path / "a" / BEST, tmp_path / "b" / BEST)
    a_state, b_state = load_checkpoint(tmp_path / "a" / LAST), load_checkpoint(tmp_path / "b" / LAST)
    assert b_state["schedule"] == a_state["schedule"]
    assert b_state["scaler"] == a_state["scaler"]          # fp16: the loss scale resumed too
    assert b_state["noise_scale"] == a_state["noise_scale"]
    # metrics.jsonl is one line per epoch, never repeated across the resume
    assert without_timing(read_metrics(tmp_path / "b" / METRICS)) == \
        without_timing(straight.history)
    # and evaluations.jsonl, within epochs too, as the straight run wrote it
    assert without_timing(read_metrics(tmp_path / "b" / EVALUATIONS)) == \
        without_timing(straight.evaluations) == without_timing(resumed.evaluations)


def test_measuring_the_noise_scale_leaves_training_as_it_was(tmp_path):
    """Measured at every step, the run trains bit for bit as one that never measures: the
    measurement takes its small-batch gradient aside and leaves the whole batch's."""
    config = BASE.replace(epochs=1, batch_size=100)
    measured = fit(config.replace(noise_scale_every=1), out_dir=tmp_path / "on")
    plain = fit(config.replace(noise_scale_every=0), out_dir=tmp_path / "off")
    assert measured.history[0]["grad_noise_scale"] > 0
    assert "grad_noise_scale" not in plain.history[0] and plain.grad_noise_scale is None
    assert [{k: v for k, v in m.items() if k != "grad_noise_scale"}
            for m in without_timing(measured.history)] == without_timing(plain.history)
    assert_same_model(tmp_path / "on" / LAST, tmp_path / "off" / LAST)
    assert load_checkpoint(tmp_path / "off" / LAST)["noise_scale"] is None


def test_resume_from_a_checkpoint_older_than_a_setting(tmp_path):
    """A checkpoint written before noise_scale_every existed was trained without it: it
    resumes under the setting's default."""
    fit(BASE, out_dir=tmp_path, callbacks=[stop_after(1)])
    state = load_checkpoint(tmp_path / LAST)
    del state["config"]["noise_scale_every"], state["noise_scale"]
    torch.save(state, tmp_path / LAST)
    resumed = fit(BASE, resume_from=tmp_path / LAST)
    assert resumed.epochs_run == 2 and "grad_noise_scale" in resumed.history[1]


def test_resume_from_a_finished_run_trains_no_more(tmp_path):
    done = fit(BASE, out_dir=tmp_path)
    again = fit(BASE, resume_from=tmp_path / LAST)
    assert again.status == "completed" and again.history == done.history
    assert again.best_epoch == done.best_epoch
    # Kept in the checkpoint, as the history is: nothing was evaluated again.
    assert again.best_reliability == done.best_reliability is not None
    assert again.grad_noise_scale == done.grad_noise_scale is not None


def test_resume_may_change_execution_settings(tmp_path):
    fit(BASE.replace(epochs=3), out_dir=tmp_path, callbacks=[stop_after(1)])
    straight = fit(BASE.replace(epochs=3))
    # loader auto means tensor for digits; the other settings do not change the result
    resumed = fit(BASE.replace(epochs=3, loader="tensor", data_dir="/elsewhere", device="cpu"),
                  resume_from=tmp_path / LAST)
    assert resumed.epochs_run == 3
    assert without_timing(resumed.history) == without_timing(straight.history)


@pytest.mark.parametrize("change", [dict(batch_size=32), dict(lr=0.1), dict(epochs=5),
                                    dict(seed=1)])
def test_resume_with_different_settings_is_refused(tmp_path, change):
    config = BASE.replace(epochs=4)
    fit(config, out_dir=tmp_path, callbacks=[stop_after(1)])
    name, value = next(iter(change.items()))
    with pytest.raises(CheckpointError, match=f"{name}="):
        fit(config.replace(**change), resume_from=tmp_path / LAST)


def test_resume_from_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        fit(BASE, resume_from=tmp_path / LAST)


# --- divergence and monitors --------------------------------------------------------------

def test_divergence_ends_the_run(tmp_path):
    config = BASE.replace(epochs=4, lr=1e10, optimizer="sgd", momentum=0.9, weight_decay=0,
                          scheduler="constant")
    result = fit(config, out_dir=tmp_path)
    assert result.status == "diverged"
    assert result.epochs_run < 4
    assert not math.isfinite(result.final["train_loss"])
    assert result.best_epoch is None or math.isfinite(result.best["val_acc"])
    assert load_checkpoint(tmp_path / LAST)["epoch"] == result.epochs_run
    assert len(read_metrics(tmp_path / METRICS)) == result.epochs_run


@pytest.mark.parametrize("monitor", ["val_loss", "train_loss"])
def test_minimised_monitor_picks_min_epoch(tmp_path, monitor):
    result = fit(BASE.replace(epochs=4, scheduler="constant", lr=0.3), out_dir=tmp_path,
                 monitor=monitor)
    values = [m[monitor] for m in result.history]
    assert result.monitor == monitor
    assert result.best_epoch == values.index(min(values)) + 1
    assert load_checkpoint(tmp_path / BEST)["epoch"] == result.best_epoch


def test_goal_overrides_direction():
    result = fit(BASE.replace(epochs=3), monitor="val_acc", goal="minimize")
    accs = [m["val_acc"] for m in result.history]
    assert result.best_epoch == accs.index(min(accs)) + 1


# --- options ------------------------------------------------------------------------------

def test_fp16_on_cpu_is_a_config_error():
    with pytest.raises(ConfigError, match="^amp: fp16"):
        fit(BASE.replace(amp="fp16", device="cpu"))


def test_cuda_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(ConfigError, match="^device:"):
        fit(BASE.replace(device="cuda"))


def test_bf16_on_cpu_trains():
    result = fit(BASE.replace(amp="bf16", device="cpu"))
    assert result.status == "completed"
    assert all(math.isfinite(m["train_loss"]) for m in result.history)
    assert result.final["val_acc"] > 0.5
    plain = fit(BASE.replace(device="cpu"))
    assert result.final["train_loss"] != plain.final["train_loss"]  # autocast really ran


def initial_weights(config):
    torch.manual_seed(config.seed)
    return build_model(config, (1, 8, 8), 10).state_dict()


def distance_moved(config, out_dir):
    start = initial_weights(config)
    end = load_checkpoint(out_dir / LAST)["model"]
    return math.sqrt(sum((end[k] - start[k]).pow(2).sum().item() for k in start))


def test_grad_clip_bounds_each_step(tmp_path):
    config = BASE.replace(epochs=1, weight_decay=0, scheduler="constant", momentum=0.9)
    fit(config, out_dir=tmp_path / "free")
    clip = 1e-3
    result = fit(config.replace(grad_clip=clip), out_dir=tmp_path / "clipped")
    assert result.status == "completed"
    steps = math.ceil(1437 / config.batch_size)
    # each step moves at most lr * clip / (1 - momentum) in L2
    bound = steps * config.lr * clip / (1 - config.momentum)
    assert 0 < distance_moved(config, tmp_path / "clipped") <= bound * 1.001
    assert distance_moved(config, tmp_path / "free") > 10 * bound


def test_initial_weights_helper_matches_fit(tmp_path):
    """distance_moved relies on fit seeding the model exactly like initial_weights does."""
    config = BASE.replace(epochs=1, lr=1e-12, weight_decay=0, momentum=0.0)
    fit(config, out_dir=tmp_path)
    assert distance_moved(config, tmp_path) < 1e-8


def test_channels_last_trains():
    result = fit(BASE.replace(channels_last=True))
    assert result.status == "completed" and result.final["val_acc"] > 0.5
    plain = fit(BASE)
    assert result.final["val_acc"] == pytest.approx(plain.final["val_acc"], abs=0.05)


@pytest.mark.parametrize("model", ["mlp"])
def test_other_models_train(model):
    result = fit(BASE.replace(model=model))
    assert result.status == "completed" and result.final["val_acc"] > 0.5


_COMBINATIONS = [(s, o) for s in ("constant", "step", "exponential", "cosine", "onecycle", "plateau")
                 for o in ("sgd", "adam", "adamw", "rmsprop", "rprop")
                 if not (s == "onecycle" and o == "rprop")]


@pytest.mark.parametrize("scheduler, optimizer", _COMBINATIONS)
def test_every_scheduler_and_optimizer_trains(scheduler, optimizer):
    # The pairing is what is tested, not the model: a width-8 mlp on the digits.
    config = BASE.replace(model="mlp", width=8, scheduler=scheduler, optimizer=optimizer,
                          step_size=1, lr=0.01, weight_decay=0 if optimizer == "rprop" else 5e-4)
    result = fit(config)
    assert result.status == "completed" and result.epochs_run == 2
    assert all(math.isfinite(m["train_loss"]) for m in result.history)


@pytest.mark.parametrize("scheduler", ["constant", "step", "exponential", "cosine", "plateau"])
def test_every_scheduler_trains_after_warmup(scheduler):
    config = BASE.replace(epochs=3, warmup_epochs=1, scheduler=scheduler, step_size=1)
    result = fit(config)
    assert result.status == "completed"
    assert result.history[0]["lr"] == pytest.approx(config.lr)  # warmup ended at lr
