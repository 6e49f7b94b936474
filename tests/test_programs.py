"""Sweeping a user's own training script as W&B's agent would: real processes, real offline W&B
runs read back with W&B's own reader, real signals."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import sweep_process
from optuna.trial import TrialState
from wandb_helpers import leet_summary
from worker_helpers import finish, is_running, start, trials, wait_for

from torchsweep.sweeps import attrs
from torchsweep.sweeps.errors import StorageError
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
    """From trial 3 on the program learns nothing; the median pruner stops it. It waits after
    its epoch 7 of 8 until it is stopped, so however late W&B's file reaches the pruner, only
    the pruner can end it before its last epoch (it fails the trial if it is not stopped)."""
    folder = project(tmp_path, QUICKSTART.replace(
        "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n", "pruner: median\n").replace(
        "epochs: {value: 6}", "epochs: {value: 8}\n  bad_after: {value: 3}\n"
        "  stall_at: {value: 7}"), "quickstart.py")
    report = run(folder, "--trials", "4", "--sampler", "random", "--wandb", "disabled")
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


MISBEHAVING = """\
program: misbehaving.py
method: grid
metric: {{name: val_loss}}
parameters:
  mode: {{values: [{modes}]}}
"""


def test_failing_programs_fail_their_trials_and_the_sweep_goes_on(tmp_path):
    folder = project(tmp_path, MISBEHAVING.format(modes="crash, silent, fine"), "misbehaving.py")
    report = run(folder, "--max-failures", "5", "--wandb", "disabled")
    # A hanging program in a study of its own: --trial-timeout counts from the program's start,
    # W&B's start-up included, which on a busy machine could outlast it for the others too.
    (folder / "hanging.yaml").write_text(MISBEHAVING.format(modes="hang"))
    hung = sweep_process("run", "hanging.yaml", "--root", "runs", "--json", "--wandb", "disabled",
                         "--trial-timeout", "3", cwd=folder)
    assert hung.returncode == 0, hung.stderr
    ran = report["trials"] + json.loads(hung.stdout)["trials"]
    by_mode = {t["params"]["mode"]: t for t in ran}
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


def _reported_an_epoch(root: Path) -> bool:
    """Whether the sweep has read an epoch from its program's W&B run: the program trains."""
    try:
        return any(t.intermediate_values for t in trials("study", root))
    except (StorageError, KeyError):      # no journal, or no study in it, yet
        return False


def test_ctrl_c_reaches_the_program_and_leaves_no_process(tmp_path):
    folder = project(tmp_path, QUICKSTART.replace("epochs: {value: 6}", "epochs: {value: 200}"),
                     "quickstart.py")
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "run",
               "study.yaml", "--root", str(folder / "runs"), "--trials", "1"]
    process = subprocess.Popen(command, cwd=folder, env={**os.environ, "EPOCH_SECONDS": "0.2"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = folder / "runs"
    try:
        wait_for(lambda: _reported_an_epoch(root), timeout=120, what="an epoch reported",
                 process=process, every=0.2)
        assert _trial_processes(root), "the program is not running"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    wait_for(lambda: not _trial_processes(root), timeout=30, what="the program's processes to end")
    shown = sweep_process("show", "study", "--root", "runs", "--json", cwd=folder)
    states = [(t["state"], t["reason"]) for t in json.loads(shown.stdout)["trials"]]
    assert states == [("failed", "interrupted"), ("waiting", None)]   # queued to resume


def stubborn(tmp_path: Path, on_sigterm: str) -> Path:
    """A study file that names tests/programs/stubborn.py by its path: a grid of one trial."""
    study = tmp_path / "stubborn.yaml"
    study.write_text(f"program: {PROGRAMS / 'stubborn.py'}\nmethod: grid\n"
                     f"metric: {{name: val_loss, goal: minimize}}\n"
                     f"parameters:\n  on_sigterm: {{values: [{on_sigterm}]}}\n")
    return study


def _recorded_pids(folder: Path, count: int) -> list[int]:
    """The pids stubborn.py recorded in its trial folder, once there are `count` of them."""
    pids = folder / "pids.txt"
    found = [int(line) for line in pids.read_text().split()] if pids.is_file() else []
    return found if len(found) >= count else []


def _end(pids: list[int]) -> None:
    """What a failing test would leave running."""
    for pid in pids:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_sweep_killed_outright_leaves_no_process_and_the_retry_gets_its_folder_back(tmp_path):
    """SIGKILL to `sweep run` while its program runs: the program's whole process group ends
    (the program and the child it started). The next run retries the lost trial in the same
    folder (SWEEP_TRIAL_DIR), where the program finds what its first attempt left; each
    attempt's stdout and stderr are in the folder's stdout.log and stderr.log."""
    study = stubborn(tmp_path, on_sigterm="stop")
    args = ("run", study, "--root", tmp_path, "--heartbeat", "0.5", "--wandb", "disabled")
    folder = tmp_path / "stubborn" / "trials" / "00000"
    pids: list[int] = []
    try:
        process = start(*args, "--trials", "1")
        pids = wait_for(lambda: _recorded_pids(folder, 2), timeout=120,
                        what="the program and its child", process=process)
        assert all(map(is_running, pids))
        os.kill(process.pid, signal.SIGKILL)   # `sweep run` alone: its program has its own group
        process.wait()
        wait_for(lambda: not any(map(is_running, pids)), timeout=30,
                 what=f"the program's processes {pids} to end")

        code, _, err = finish(start(*args))     # continues the study: the lost trial is retried
        assert code == 0, err
        pids = _recorded_pids(folder, 4)
    finally:
        _end(pids)
    lost, retry = sorted(trials("stubborn", tmp_path), key=lambda t: t.number)
    assert (lost.state, attrs.reason(lost)) == (TrialState.FAIL, "lost")
    assert (retry.state, retry.value, attrs.retry_of(retry)) == (TrialState.COMPLETE, 0.5, 0)
    assert attrs.trial_dir(retry) == attrs.trial_dir(lost) == "stubborn/trials/00000"
    attempts = [line.split() for line in (folder / "attempts.txt").read_text().splitlines()]
    assert [where for _, where in attempts] == [str(folder.resolve())] * 2
    assert attempts[0][0] != attempts[1][0]                  # two processes, one folder
    out, err = (folder / "stdout.log").read_text(), (folder / "stderr.log").read_text()
    assert out.splitlines() == ["stdout of attempt 1", "stdout of attempt 2"]
    assert "stderr of attempt 1\n" in err and "stderr of attempt 2\n" in err
    assert "stdout of" not in err


def test_a_stopped_program_that_ignores_sigterm_is_killed_10_s_later(tmp_path):
    """Stopped by --trial-timeout, a program that ignores SIGTERM gets SIGKILL after the 10 s
    grace, as W&B's agent does (with its own 30 s), and so does the child it started."""
    study = stubborn(tmp_path, on_sigterm="ignore")
    folder = tmp_path / "stubborn" / "trials" / "00000"
    try:
        done = sweep_process("run", study, "--root", tmp_path, "--trials", "1", "--wandb",
                             "disabled", "--trial-timeout", "1", "--json")
        assert done.returncode == 0, done.stderr
    finally:
        _end(_recorded_pids(folder, 2))
    [trial] = trials("stubborn", tmp_path)
    assert (trial.state, attrs.reason(trial)) == (TrialState.FAIL, "timed_out")
    assert attrs.summary(trial).exit_code == -signal.SIGKILL
    [sigterm] = map(float, (folder / "sigterm.txt").read_text().split())
    waited = trial.datetime_complete.timestamp() - sigterm
    assert 9.5 <= waited < 20, waited
    assert not any(map(is_running, _recorded_pids(folder, 2)))


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
    assert len(study_runs) == 1, "\n".join([  # in full: pytest cuts a tuple's repr short
        *map(str, runs), *sorted(str(p.relative_to(folder)) for p in (
            folder / "runs" / "study" / "wandb").glob("*/*")), done.stdout, done.stderr])
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


def _figure(html: str, div_id: str) -> list[dict]:
    """The traces of one plotly figure of a report page, from its `Plotly.newPlot` call."""
    call = html.index(f'"{div_id}",', html.index("Plotly.newPlot(")) + len(div_id) + 3
    return json.JSONDecoder().raw_decode(html[call:].lstrip())[0]


def test_a_metrics_study_shows_its_pareto_front(tmp_path):
    """Two widths, each with and without waste: a trial with waste is dominated by the same
    width without, so the front is the two trials without. Kept: the whole front, though
    --keep-top-k is 1."""
    folder = project(tmp_path, """\
        program: two_metrics.py
        method: grid
        metrics:
          - {name: val_loss, goal: minimize}
          - {name: seconds_per_epoch, goal: minimize}
        parameters:
          width: {values: [1, 4]}
          waste: {values: [0, 1]}
        command:
          - ${env}
          - ${interpreter}
          - ${program}
          - ${args_no_boolean_flags}
        """.replace("        ", ""), "two_metrics.py")
    report = run(folder, "--keep-top-k", "1")
    assert len(report["trials"]) == 4 and all(t["values"] for t in report["trials"])
    by_number = {t["number"]: t for t in report["trials"]}
    front = sorted(n for n, t in by_number.items() if t["params"]["waste"] == 0)
    # Both rows each program logged were read (a trial's last value is its summary's).
    assert [t["epochs_run"] for t in report["trials"]] == [2] * 4

    done = sweep_process("best", "study", "--root", "runs", "--json", cwd=folder)
    best = json.loads(done.stdout)
    assert best["metrics"] == ["val_loss", "seconds_per_epoch"]
    assert sorted(t["number"] for t in best["pareto"]) == front
    table = sweep_process("show", "study", "--root", "runs", cwd=folder, env={"COLUMNS": "200"})
    assert "val_loss / seconds_per_epoch" in table.stdout
    rows = {int(line.split("│")[1]): line for line in table.stdout.splitlines()
            if line.startswith("│")}
    assert sorted(rows) == sorted(by_number)
    assert sorted(n for n, line in rows.items() if "pareto" in line) == front
    # Retention keeps the front's folders, all of it, and nothing else.
    trials = folder / "runs" / "study" / "trials"
    assert sorted(p.name for p in trials.iterdir()) == [f"{n:05d}" for n in front]
    assert sorted(map(int, report["kept_checkpoints"])) == front

    # The report's Pareto figure: Optuna's "Best Trial" trace holds the front's points, its
    # "Trial" trace the others', each (val_loss, seconds_per_epoch).
    done = sweep_process("report", "study", "--root", "runs", cwd=folder)
    assert done.returncode == 0, done.stderr
    traces = _figure((folder / "runs" / "study" / "report.html").read_text(), "pareto")
    points = {"Best Trial" if "Best Trial" in t["hovertemplate"] else "Trial":
              sorted(zip(t["x"], t["y"])) for t in traces}
    values = {n: tuple(t["values"]) for n, t in by_number.items()}
    assert points == {"Best Trial": sorted(values[n] for n in front),
                      "Trial": sorted(v for n, v in values.items() if n not in front)}

    chosen = front[-1]
    done = sweep_process("best", "study", "--root", "runs", "--export", "out", "--trial",
                         str(chosen), "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "out" / "metrics.json").read_text())["trial"] == chosen
