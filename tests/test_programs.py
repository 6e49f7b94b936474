"""Sweeping a user's own training script as W&B's agent would: real processes, real offline W&B
runs read back with W&B's own reader, real signals."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import sweep_process

from torchsweep.sweeps.tracking.local_runs import list_runs

PROGRAMS = Path(__file__).parent / "programs"
QUICKSTART = """\
program: quickstart.py
method: bayes
metric: {name: val_loss, goal: minimize}
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.3}
  hidden: {values: [8, 16, 32]}
  epochs: {value: 6}
"""


def project(tmp_path: Path, study: str, *programs: str) -> Path:
    """A folder as a user has it: the study file beside the programs it names."""
    for program in programs:
        shutil.copy(PROGRAMS / program, tmp_path / program)
    (tmp_path / "study.yaml").write_text(study)
    return tmp_path


def run(folder: Path, *args, env: dict | None = None) -> dict:
    done = sweep_process("run", "study.yaml", "--root", "runs", "--json", *args, cwd=folder,
                         env={"EPOCH_SECONDS": "0.05", **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def leet_summary(run_folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary",
                           "--json", str(run_folder)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def program_runs(folder: Path) -> dict[int, Path]:
    """Trial number -> the folder of the program's own W&B run."""
    return {run.trial: run.folder for run in list_runs(folder / "runs", "study")
            if run.trial is not None}


def test_a_quickstart_script_runs_as_a_bayes_hyperband_study(tmp_path):
    folder = project(tmp_path, QUICKSTART, "quickstart.py")
    report = run(folder, "--trials", "5")
    assert report["ran"] == 5
    assert {t["state"] for t in report["trials"]} <= {"completed", "pruned"}
    runs = program_runs(folder)
    for trial in report["trials"]:
        seen = leet_summary(runs[trial["number"]])
        # The trial's value is what W&B itself uses: its run summary's val_loss.
        assert trial["value"] == pytest.approx(seen["summary"]["val_loss"], rel=1e-12)
        # The program got the trial's values in wandb.config, and its run is one of the study's.
        assert {k: seen["config"][k] for k in trial["params"]} == trial["params"]
        assert seen["name"] == f"study-t{trial['number']}" and "tpe" in seen["tags"]
    assert report["best"]["value"] == min(t["value"] for t in report["trials"]
                                          if t["state"] == "completed")


def test_a_pruned_program_is_stopped_before_its_last_epoch(tmp_path):
    """From trial 3 on the program learns nothing; the median pruner stops it at epoch 3."""
    folder = project(tmp_path, QUICKSTART.replace(
        "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n", "pruner: median\n").replace(
        "epochs: {value: 6}", "epochs: {value: 8}\n  bad_after: {value: 3}"), "quickstart.py")
    report = run(folder, "--trials", "4", "--sampler", "random", env={"EPOCH_SECONDS": "0.4"})
    states = [t["state"] for t in report["trials"]]
    assert states == ["completed", "completed", "completed", "pruned"], states
    pruned = report["trials"][3]
    assert pruned["pruned_at"] < 8
    seen = leet_summary(program_runs(folder)[3])
    assert seen["summary"]["epoch"] < 8                      # it was stopped, not finished
    assert seen["summary"]["state"] == "stopped" and "stopped" in seen["tags"]
    assert seen["state"] == "finished"                       # its run ended, not left running
    assert pruned["value"] == pytest.approx(seen["summary"]["val_loss"])
    assert not (folder / "runs" / "study" / "trials" / "00003" / "model.txt").exists()


def test_failing_programs_fail_their_trials_and_the_sweep_goes_on(tmp_path):
    folder = project(tmp_path, """\
        program: misbehaving.py
        method: grid
        metric: {name: val_loss}
        parameters:
          mode: {values: [crash, silent, hang, fine]}
        """.replace("        ", ""), "misbehaving.py")
    report = run(folder, "--trial-timeout", "10", "--max-failures", "5")  # start-up included
    by_mode = {t["params"]["mode"]: t for t in report["trials"]}
    assert {mode: (t["state"], t["reason"]) for mode, t in by_mode.items()} == {
        "crash": ("failed", "error"), "silent": ("failed", "no_metric"),
        "hang": ("failed", "timed_out"), "fine": ("completed", None)}
    shown = sweep_process("show", "study", "--root", "runs", "--json", cwd=folder)
    errors = {t["params"]["mode"]: t for t in json.loads(shown.stdout)["trials"]}
    assert errors["fine"]["value"] == pytest.approx(1 / 3)
    journal = (folder / "runs" / "optuna.journal").read_text()
    assert "ValueError: boom: the data loader fell over" in journal          # stderr's tail
    assert "the program never logged val_loss to W&B; it logged: epoch, loss" in journal


def _trial_processes(root: Path) -> list[int]:
    """Live processes started for a trial under `root` (the program and what it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes()
        except (OSError, ValueError):
            continue
        if f"SWEEP_TRIAL_DIR={root}".encode() in environ:
            found.append(int(entry.name))
    return found


def test_ctrl_c_reaches_the_program_and_leaves_no_process(tmp_path):
    folder = project(tmp_path, QUICKSTART.replace("epochs: {value: 6}", "epochs: {value: 200}"),
                     "quickstart.py")
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "run",
               "study.yaml", "--root", str(folder / "runs"), "--trials", "1"]
    process = subprocess.Popen(command, cwd=folder, env={**os.environ, "EPOCH_SECONDS": "0.2"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = folder / "runs"
    deadline = time.monotonic() + 60
    while not _trial_processes(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _trial_processes(root), "the program never started"
    time.sleep(4)                                            # it is training now
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130, process.stderr.read()
    deadline = time.monotonic() + 10
    while _trial_processes(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _trial_processes(root) == []
    shown = sweep_process("show", "study", "--root", "runs", "--json", cwd=folder)
    states = [(t["state"], t["reason"]) for t in json.loads(shown.stdout)["trials"]]
    assert states == [("failed", "interrupted"), ("waiting", None)]   # queued to resume


def test_top_k_keeps_k_trial_folders_and_export_copies_the_best(tmp_path):
    folder = project(tmp_path, QUICKSTART, "quickstart.py")
    report = run(folder, "--trials", "4", "--sampler", "random", "--pruner", "none",
                 "--keep-top-k", "2")
    best_two = sorted(report["trials"], key=lambda t: t["value"])[:2]
    trials = folder / "runs" / "study" / "trials"
    assert sorted(p.name for p in trials.iterdir()) == sorted(
        f"{t['number']:05d}" for t in best_two)
    assert sorted(map(int, report["kept_checkpoints"])) == sorted(t["number"] for t in best_two)

    export = folder / "best"
    done = sweep_process("best", "study", "--root", "runs", "--export", "best", "--json",
                         cwd=folder)
    assert done.returncode == 0, done.stderr
    best = best_two[0]
    assert json.loads(done.stdout)["export"]["trial"] == best["number"]
    assert (export / "model.txt").is_file()                  # what the program saved
    assert json.loads((export / "params.json").read_text()) == best["params"]
    assert json.loads((export / "metrics.json").read_text())["value"] == best["value"]
    assert json.loads((export / "config.json").read_text())["hidden"] == best["params"]["hidden"]
    assert json.loads(done.stdout)["export"]["saved_by_program"] == ["model.txt"]


def test_a_program_study_says_what_it_kept_and_exported(tmp_path):
    """A script that saves nothing: the summary counts trial folders, not checkpoints; its
    W&B study run logs the kept folders and the importances without a warning; the export
    says it copied a folder holding only sweep's own files, and promises no model."""
    folder = project(tmp_path, QUICKSTART, "quickstart.py")
    env = {"EPOCH_SECONDS": "0.05", "SAVE_MODEL": "0", "COLUMNS": "200"}
    done = sweep_process("run", "study.yaml", "--root", "runs", "--trials", "2", "--sampler",
                         "random", "--pruner", "none", "--keep-top-k", "1", "--wandb", "offline",
                         cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr
    assert "1 trial folder kept (the program saved nothing in them" in done.stdout, done.stdout
    assert "checkpoint" not in done.stdout
    runs = list_runs(folder / "runs", "study")
    study_runs = [run.folder for run in runs if run.trial is None]
    assert len(study_runs) == 1, (runs, sorted(p.name for p in (folder / "runs" / "study" /
                                                                "wandb").iterdir()), done.stderr)
    study_run = study_runs[0]
    summary = leet_summary(study_run)["summary"]
    assert {"importance/learning_rate", "importance/hidden"} <= set(summary), summary
    records = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json",
                              str(study_run)], capture_output=True, text=True, check=True)
    artifacts = [record["artifact"] for record in map(json.loads, records.stdout.splitlines())
                 if record["type"] == "artifact"]
    models = [artifact for artifact in artifacts if artifact["type"] == "model"]
    assert len(models) == 1 and "best" in models[0]["aliases"]   # the best trial's folder

    exported = sweep_process("best", "study", "--root", "runs", "--export", "best", cwd=folder,
                             env=env)
    assert exported.returncode == 0, exported.stderr
    said = " ".join(exported.stdout.split())
    assert "a copy of its trial folder (the program saved nothing there" in said, said
    for claim in ("safetensors", "load_exported_model", "trainer model"):
        assert claim not in said


def test_a_metrics_study_shows_its_pareto_front(tmp_path):
    folder = project(tmp_path, """\
        program: two_metrics.py
        method: grid
        metrics:
          - {name: val_loss, goal: minimize}
          - {name: seconds_per_epoch, goal: minimize}
        parameters:
          width: {values: [1, 4, 16]}
        command:
          - ${env}
          - ${interpreter}
          - ${program}
          - ${args_no_boolean_flags}
        """.replace("        ", ""), "two_metrics.py")
    report = run(folder)
    assert len(report["trials"]) == 3 and all(t["values"] for t in report["trials"])
    done = sweep_process("best", "study", "--root", "runs", "--json", cwd=folder)
    best = json.loads(done.stdout)
    assert best["metrics"] == ["val_loss", "seconds_per_epoch"]
    # Each width trades loss for time: every trial is Pareto-optimal.
    assert sorted(t["number"] for t in best["pareto"]) == [0, 1, 2]
    table = sweep_process("show", "study", "--root", "runs", cwd=folder, env={"COLUMNS": "200"})
    assert table.stdout.count("pareto") == 3 and "val_loss / seconds_per_epoch" in table.stdout
    chosen = best["pareto"][-1]["number"]
    done = sweep_process("best", "study", "--root", "runs", "--export", "out", "--trial",
                         str(chosen), "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "out" / "metrics.json").read_text())["trial"] == chosen
