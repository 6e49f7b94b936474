"""`sweep train`: help, a real run on digits, resume, and bad input with its exact message."""
import json

import pytest
import torch
from cli_helpers import metrics_lines, one_line_error, stopped_run, sweep, sweep_json, sweep_process


def test_help_lists_options():
    result = sweep("train", "--help")
    assert result.exit_code == 0
    for option in ("--config", "--set", "--out", "--resume", "--json"):
        assert option in result.stdout
    # Bracketed text is Rich markup to Typer: a "[default: ...]" in a help string vanished.
    assert "<root>/train/<timestamp>" in " ".join(result.stdout.replace("│", " ").split())


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason="needs a CUDA device"))])
def test_train_json_reports_metrics_and_writes_outputs(tmp_path, device):
    result = sweep("train", "--set", "epochs=2", "--set", "batch_size=32", "--set",
                   f"device={device}", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["epochs_run"] == 2
    assert set(report["final"]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                    "epoch_seconds", "samples_per_second"}
    assert report["final"]["val_acc"] > 0.7
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["batch_size"], saved["epochs"], saved["device"]) == (32, 2, device)
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "best.pt").is_file()
    weights = torch.load(tmp_path / "last.pt", weights_only=True)["model"].values()
    assert {t.device.type for t in weights} == {device}   # saved where it trained


NOISE_LINE = "gradient noise scale ~ "


def test_train_prints_and_logs_the_gradient_noise_scale(tmp_path):
    result = sweep("train", "--set", "epochs=2", "--set", "noise_scale_every=5", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    logged = [m["grad_noise_scale"] for m in metrics_lines(tmp_path)]
    assert len(logged) == 2 and all(value > 0 for value in logged)
    line = next(line for line in result.stdout.splitlines() if line.startswith(NOISE_LINE))
    assert line == f"{NOISE_LINE}{logged[-1]:.0f} samples (estimate; SGD assumptions, biased " \
                   "under Adam)"
    report = sweep_json("train", "--set", "epochs=2", "--set", "noise_scale_every=5", "--out",
                        tmp_path / "again")
    assert report["grad_noise_scale"] == report["final"]["grad_noise_scale"] == logged[-1]
    assert sum(report["best_reliability"]["count"]) == 360


def test_the_noise_scale_is_off_at_zero(tmp_path):
    result = sweep("train", "--set", "epochs=1", "--set", "noise_scale_every=0", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "gradient noise scale" not in result.stdout
    assert "grad_noise_scale" not in metrics_lines(tmp_path)[0]


def test_config_file_is_overridden_by_set(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 1\nbatch_size: 128\nlr: 0.1\n")
    out = tmp_path / "out"
    result = sweep("train", "--config", config, "--set", "batch_size=256", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    saved = json.loads((out / "config.json").read_text())
    assert (saved["epochs"], saved["batch_size"], saved["lr"]) == (1, 256, 0.1)


SMALL = ("--set", "model=mlp", "--set", "width=8", "--set", "batch_size=256")


def test_resume_continues_to_the_configured_epochs(tmp_path):
    run = tmp_path / "run"
    before = stopped_run(run, epochs=3, after=1)
    resumed = sweep("train", "--set", "epochs=3", *SMALL, "--resume", run / "last.pt",
                    "--out", run, "--json")
    assert resumed.exit_code == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert (report["status"], report["epochs_run"]) == ("completed", 3)
    after = metrics_lines(run)
    # Epoch 1 as it was (its own timing: not trained again), epochs 2 and 3 trained now...
    assert [m["epoch"] for m in after] == [1, 2, 3] and after[0] == before[0]
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 3
    # ...exactly as a run that was never stopped trains them.
    straight = sweep("train", "--set", "epochs=3", *SMALL, "--out", tmp_path / "straight",
                     "--json")
    assert straight.exit_code == 0, straight.stderr
    never_stopped = metrics_lines(tmp_path / "straight")
    for key in ("train_loss", "val_acc", "val_loss", "lr", "steps"):
        assert [m[key] for m in after] == [m[key] for m in never_stopped], key


def test_resume_refuses_a_run_trained_for_other_epochs(tmp_path):
    stopped_run(tmp_path, epochs=1, after=1)
    # Same settings, more epochs is a different schedule: resuming must refuse it.
    refused = sweep("train", "--set", "epochs=3", *SMALL, "--resume", tmp_path / "last.pt",
                    "--out", tmp_path)
    one_line_error(refused, 5, "it was trained with epochs=1, this run has epochs=3")


def test_table_output_names_what_trains_and_marks_best_epoch(tmp_path):
    from torchsweep.sweeps.study import bundled_names, resolve

    result = sweep("train", "--set", "epochs=2", "--out", tmp_path)
    assert result.exit_code == 0
    # The first line says what trains on what: the default dataset is not the studies' one.
    assert result.stdout.splitlines()[0] == (
        f"training model cnn (width 32) on dataset digits (the default; the bundled studies "
        f"use mnist1d: --set dataset=mnist1d) for 2 epochs, batch size 64; outputs in {tmp_path}")
    assert {resolve(name, tmp_path).space.constants()["dataset"]
            for name in bundled_names()} == {"mnist1d"}
    assert "training completed: 2 epochs" in result.stdout
    assert "best epoch by val_acc" in result.stdout


@pytest.mark.parametrize("args, code, message", [
    # `sweep train --set` speaks the one --set grammar of `sweep run`: messages say where.
    (["--set", "batch_sise=3"], 2,
     "error: --set batch_sise: unknown setting 'batch_sise'; did you mean 'batch_size'?"),
    (["--set", "lr=-1"], 2, "error: --set lr: expected a number > 0, got -1.0"),
    (["--set", "optimizer=adm"], 2, "error: --set optimizer: expected one of sgd, adam, adamw, "
                                    "rmsprop, rprop, got 'adm'; did you mean 'adam'?"),
    (["--set", "lr"], 2, 'error: --set "lr": expected NAME=VALUE, e.g. --set epochs=3'),
    (["--resume", "missing.pt"], 5, "error: checkpoint missing.pt does not exist; no valid "
                                    "last.pt or best.pt in . to resume from either"),
    (["--set", "amp=fp16", "--set", "device=cpu"], 2,
     "error: amp: fp16 autocast needs CUDA; use amp=bf16 or amp=off on the CPU"),
])
def test_bad_input_gets_one_line_and_exit_code(tmp_path, args, code, message):
    line = one_line_error(sweep("train", *args, "--out", tmp_path / "out"), code)
    assert line == message


def test_bad_option_is_a_usage_error(tmp_path):
    one_line_error(sweep("train", "--config", tmp_path / "nope.yaml"), 2,
                   "Invalid value for '--config'", "does not exist")


def test_real_process_trains_with_defaults(tmp_path):
    """The default run from the issue: digits, defaults, val_acc >= 0.95."""
    result = sweep_process("train", "--out", tmp_path / "run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["epochs_run"] == 10
    assert report["best"]["val_acc"] >= 0.95
