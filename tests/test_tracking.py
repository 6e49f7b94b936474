"""Tracking with real W&B offline files, read back with W&B's own reader (`wandb leet inspect`).

No mock of W&B: sweeps run offline and write real runs under `<root>/<study>/wandb/`; the
tests read those files as W&B (and `wandb sync`) would. Only the failure test replaces
`wandb.init`, to inject a fault into the dependency and watch our trial survive it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import one_line_error, sweep, sweep_json
from wandb_helpers import leet_summary
from worker_helpers import SLOW_SPACE, epochs_saved, finish, start, wait_for

from torchsweep.sweeps.tracking.local_runs import list_runs, runs_folder
from torchsweep.sweeps.tracking.wandb_runs import Tracker, resolve_mode

FAST = ("--set", "model=mlp", "--set", "batch_size=512")
STUDY = """\
name: tracked
method: grid
metric: {name: val_acc, goal: maximize}
parameters:
  dataset: {values: [digits, "test_tracking:broken_dataset"]}
  lr: {values: [0.05, 1.0e+10]}
  epochs: {value: 2}
"""


def broken_dataset(config):
    """A dataset factory (`dataset=test_tracking:broken_dataset`) that fails inside training."""
    raise RuntimeError("injected data failure")


def leet_records(run_dir: Path) -> list[dict]:
    """Every record of the run's .wandb log, as W&B's reader prints them."""
    return [json.loads(line)
            for line in _wandb("leet", "inspect", "--json", run_dir).splitlines()]


def _wandb(*args) -> str:
    done = subprocess.run([sys.executable, "-m", "wandb", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout


def _own_env(**extra: str) -> dict:
    """The environment of a sweep in its own process, without the suite's W&B settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("WANDB_")}
    return {**env, "WANDB_SILENT": "true", **extra}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A grid of 4 trials: one completes, one diverges (pruned), two fail in training; read
    back once: every run's summary, and the records of a completed trial and the study run."""
    root = tmp_path_factory.mktemp("tracked")
    study = root / "tracked.yaml"
    study.write_text(STUDY)
    # No project or entity from the environment: the runs go to the default project.
    result = sweep("run", study, "--root", root, *FAST, "--wandb", "offline", "--tensorboard",
                   "--log-checkpoints", "all", "--sampler", "grid", "--set",
                   "noise_scale_every=1", "--json", env={"WANDB_PROJECT": None,
                                                         "WANDB_ENTITY": None})
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    runs = {run.name: run for run in list_runs(root, "tracked")}
    trials = {}
    for trial in report["trials"]:
        trials.setdefault("diverged" if trial["reason"] == "diverged" else trial["state"], trial)
    seen = {name: leet_summary(run.folder) for name, run in runs.items()}
    completed = f"tracked-t{trials['completed']['number']}"
    records = {name: leet_records(runs[name].folder) for name in (completed, "tracked-summary")}
    return root, report, runs, trials, seen, records


def _run_record(records: list[dict]) -> dict:
    return next(r["run"] for r in records if r["type"] == "run")


def test_a_run_per_trial_grouped_by_study_with_a_study_run(tracked):
    root, report, runs, trials, seen, records = tracked
    assert len(report["trials"]) == 4
    assert sorted(runs) == sorted([f"tracked-t{n}" for n in range(4)] + ["tracked-summary"])
    completed = f"tracked-t{trials['completed']['number']}"
    record = _run_record(records[completed])
    assert (record["run_group"], record["job_type"]) == ("tracked", "trial")
    record = _run_record(records["tracked-summary"])
    assert (record["run_group"], record["job_type"]) == ("tracked", "study")
    for number in range(4):
        run = seen[f"tracked-t{number}"]
        assert run["name"] == f"tracked-t{number}" and "grid" in run["tags"]
        assert run["project"] == "sweep"
        config = run["config"]
        assert config["study"] == "tracked" and config["trial_number"] == number
        assert config["storage"] == str(root / "optuna.journal")
        # the trial's params and the whole resolved training config
        assert {"dataset", "lr", "epochs", "model", "batch_size", "optimizer", "seed"} <= set(config)


def test_completed_pruned_and_failed_trials_end_as_such(tracked):
    _, _, _, trials, seen, _ = tracked
    completed = seen[f"tracked-t{trials['completed']['number']}"]
    assert (completed["state"], completed["exit_code"]) == ("finished", 0)
    assert "completed" in completed["tags"]
    summary = completed["summary"]
    assert summary["state"] == "completed" and summary["epochs_run"] == 2
    assert summary["best_val_acc"] == trials["completed"]["value"]
    assert "pruned_at" not in summary          # W&B drops None values

    pruned = seen[f"tracked-t{trials['diverged']['number']}"]
    assert (pruned["state"], pruned["exit_code"]) == ("finished", 0)
    assert "pruned" in pruned["tags"]
    assert pruned["summary"]["state"] == "pruned" and pruned["summary"]["pruned_at"] == 1
    assert pruned["summary"]["reason"] == "diverged"

    failed = seen[f"tracked-t{trials['failed']['number']}"]
    assert failed["state"] == "failed" and failed["exit_code"] == 1
    assert "failed" in failed["tags"]
    assert "injected data failure" in failed["summary"]["error"]


def test_per_epoch_curves_use_epoch_as_x_axis(tracked):
    _, _, _, trials, _, records = tracked
    records = records[f"tracked-t{trials['completed']['number']}"]
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr"} <= set(history[0])
    # Scalars that came with issue 15, the noise scale among them (measured every step here).
    assert {"val_ece_tempered", "val_temperature", "grad_noise_scale"} <= set(history[1])
    axes = [r["metric"] for r in records if r["type"] == "metric"]
    assert any(axis.get("glob_name") == "*" and axis.get("step_metric") == "epoch"
               for axis in axes)


def test_study_run_has_trials_table_history_and_best_checkpoint(tracked):
    _, _, runs, trials, seen, records = tracked
    study_run, records = seen["tracked-summary"], records["tracked-summary"]
    assert study_run["state"] == "finished"
    summary = study_run["summary"]
    assert (summary["trials_total"], summary["trials_completed"], summary["trials_pruned"],
            summary["trials_failed"]) == (4, 1, 1, 2)
    number = trials["completed"]["number"]
    assert (summary["best_trial"], summary["best_val_acc"]) == (number, trials["completed"]["value"])

    table_file = summary["trials"]["path"]
    table = json.loads((runs["tracked-summary"].folder / "files" / table_file).read_text())
    assert len(table["data"]) == 4          # one row per trial
    assert {"trial", "state", "val_acc", "epochs_run", "duration_s", "lr", "dataset"} <= set(
        table["columns"])
    history = [r["history"]["item"] for r in records if r["type"] == "history"
               and "best_val_acc" in r["history"]["item"]]
    assert [row["trial"] for row in history] == [number]
    # The history holds the optimization history alone: tables (the trials, the importances)
    # are in the summary, so `wandb leet` draws no charts of their row and column counts.
    keys = {key for r in records if r["type"] == "history" for key in r["history"]["item"]}
    assert keys <= {"trial", "val_acc", "best_val_acc", "_step", "_runtime", "_timestamp"}, keys

    models = [r["artifact"] for r in records
              if r["type"] == "artifact" and r["artifact"]["type"] == "model"]
    assert len(models) == 1                 # --log-checkpoints all: the one kept checkpoint
    assert models[0]["name"] == "tracked-model"
    assert {"best", f"trial-{number}"} <= set(models[0]["aliases"])


def _model_aliases(run_dir: Path) -> list[set[str]]:
    """The aliases of each model artifact the run logged (W&B's own `latest` left out)."""
    return [set(r["artifact"]["aliases"]) - {"latest"} for r in leet_records(run_dir)
            if r["type"] == "artifact" and r["artifact"]["type"] == "model"]


def test_log_checkpoints_best_by_default_all_or_none(tmp_path):
    """Two kept checkpoints, so that `all` differs from `best`. A worker joining the finished
    study runs nothing and writes a study run of its own, with its own --log-checkpoints."""
    report = sweep_json("run", "ckpts", "--param", "lr=0.05,0.1", "--sampler", "grid", *FAST,
                        "--set", "epochs=1", "--keep-top-k", "2", "--pruner", "none",
                        "--wandb", "offline", "--root", tmp_path)
    assert len(report["kept_checkpoints"]) == 2
    best = report["best"]["number"]
    for policy in ("all", "none"):
        joined = sweep_json("worker", "ckpts", "--log-checkpoints", policy, "--wandb", "offline",
                            "--root", tmp_path)
        assert joined["ran"] == 0
    study_runs = sorted((run.folder for run in list_runs(tmp_path, "ckpts")
                         if run.name == "ckpts-summary"),       # started within one second:
                        key=lambda folder: leet_summary(folder)["start_time"])   # W&B's clock
    default, every, none = map(_model_aliases, study_runs)
    assert default == [{"best", f"trial-{best}"}]
    assert sorted(every, key=len) == [{f"trial-{1 - best}"}, {"best", f"trial-{best}"}]
    assert none == []


def test_metrics_and_tensorboard_files_beside_the_checkpoints(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, _, _, trials, _, _ = tracked
    for key in ("completed", "diverged"):
        folder = root / "tracked" / "trials" / f"{trials[key]['number']:05d}"
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == trials[key]["epochs_run"]
    folder = root / "tracked" / "trials" / f"{trials['completed']['number']:05d}"
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [event.step for event in events.Scalars("val_acc")] == [1, 2]


def test_runs_lists_the_study_runs_as_unsynced(tracked):
    root = tracked[0]
    listed = sweep_json("runs", "tracked", "--root", root)
    assert listed["folder"] == str(runs_folder(root, "tracked"))
    assert len(listed["runs"]) == 5
    assert {run["sync"] for run in listed["runs"]} == {"unsynced"}
    assert sorted(run["trial"] for run in listed["runs"] if run["trial"] is not None) == [0, 1, 2, 3]
    table = sweep("runs", "tracked", "--root", root)
    assert table.exit_code == 0
    assert "5 not synced: `sweep sync tracked` uploads them" in table.stdout


def test_sync_without_credentials_is_one_line_and_exit_code_9(tracked, tmp_path):
    root = tracked[0]
    result = sweep("sync", "tracked", "--root", root,
                   env={"WANDB_API_KEY": None, "NETRC": str(tmp_path / "netrc"),
                        "WANDB_CONFIG_DIR": str(tmp_path)})
    one_line_error(result, 9, "error: 5 of 5 runs of 'tracked' not synced (No API key")


def test_sync_without_network_gives_up_at_its_timeout(tracked):
    root = tracked[0]
    started = time.monotonic()
    result = sweep("sync", "tracked", "--root", root, "--timeout", "3",
                   env={"WANDB_API_KEY": "a" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9"})
    one_line_error(result, 9, "did not finish within 3 s")
    assert time.monotonic() - started < 20
    assert {run.sync for run in list_runs(root, "tracked")} == {"unsynced"}


def test_fifty_trials_leave_open_files_and_threads_flat(tmp_path):
    from wandb.sdk import wandb_setup

    from torchsweep.sweeps.engine.objective import NullObserver
    from torchsweep.sweeps.engine.run_options import RunOptions
    from torchsweep.sweeps.engine.orchestrate import run_study
    from torchsweep.sweeps.study.catalog import resolve

    def open_files_and_threads() -> tuple[int, int]:
        return len(os.listdir("/proc/self/fd")), threading.active_count()

    at_start, active_at_start = {}, []

    class Sampling(NullObserver):
        # Records only: an assertion raised here would fail a trial, not this test.
        def trial_started(self, number, params):
            active_at_start.append(wandb_setup.singleton().most_recent_active_run)
            at_start[number] = open_files_and_threads()

    # Small trials (one evaluation, no noise-scale measurement, one thread): what is counted
    # is what each trial's W&B run, heartbeat and training leave behind.
    spec = resolve("fifty", tmp_path, ["lr=0.01..0.1"],
                   ["model=mlp", "batch_size=1024", "epochs=1", "width=8", "threads=1",
                    "evaluations_per_epoch=1", "noise_scale_every=0"])
    run_study(spec, RunOptions(root=tmp_path, trials=50, sampler="random", pruner="none",
                               wandb="offline"), observer=Sampling())
    # The previous trial's run is finished before the next one starts.
    assert active_at_start == [None] * 50
    # Once the sweep has ended, with W&B's service and its connection open since the first
    # trial: no more files or threads than as trial 5 started (its heartbeat thread
    # included). What is still closing gets time to close; a file or thread left behind by
    # each of the 45 trials since stays open, and fails.
    files_5, threads_5 = at_start[5]

    def settled() -> bool:
        files, threads = open_files_and_threads()
        return files <= files_5 + 2 and threads <= threads_5

    wait_for(settled, timeout=30, what=f"open files and threads to fall to those as trial 5 "
             f"started, {at_start[5]} (as trial 49 started: {at_start[49]})")
    runs = list_runs(tmp_path, "fifty")
    assert len(runs) == 51
    # With fifty completed trials the study run ranks the parameters too.
    study_run = next(run for run in runs if run.name == "fifty-summary")
    assert "importance/lr" in leet_summary(study_run.folder)["summary"]


def test_wandb_init_failure_still_completes_the_trials(tmp_path, monkeypatch):
    import wandb

    calls = []

    def failing_init(*args, **kwargs):
        calls.append(kwargs["name"])
        raise RuntimeError("injected: W&B is down")

    monkeypatch.setattr(wandb, "init", failing_init)
    result = sweep("run", "unlogged", "--param", "lr=0.01..0.1", *FAST, "--set", "epochs=1",
                   "--trials", "2", "--wandb", "offline", "--root", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [t["state"] for t in report["trials"]] == ["completed", "completed"]
    # One warning: once W&B failed, neither the second trial nor the study run waits on it again.
    assert calls == ["unlogged-t0"]
    # For the user: one line, without the source location of a developer's warning.
    assert result.stderr.splitlines() == [
        "warning: W&B could not start unlogged-t0 offline (injected: W&B is down); going on "
        "without W&B"]
    assert list_runs(tmp_path, "unlogged") == []


def test_unreachable_server_falls_back_to_offline_runs(tmp_path):
    """Credentials but no network: W&B's start is bounded, then the sweep logs offline."""
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "run", "cut_off",
               "--param", "lr=0.01..0.1", *FAST, "--set", "epochs=1", "--trials", "2",
               "--root", tmp_path, "--json"]
    env = _own_env(WANDB_API_KEY="a" * 40, WANDB_BASE_URL="http://127.0.0.1:9",
                       WANDB_INIT_TIMEOUT="1")
    done = subprocess.run(list(map(str, command)), capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [t["state"] for t in json.loads(done.stdout)["trials"]] == ["completed"] * 2
    assert done.stderr.count("W&B could not start cut_off-t0 online") == 1
    started = [line for line in done.stderr.splitlines() if "could not start" in line]
    assert started[0].startswith("warning: W&B could not start cut_off-t0 online"), done.stderr
    assert ".py:" not in done.stderr
    assert "W&B could not start cut_off-t1" not in done.stderr
    assert "logging offline from now on; `sweep sync cut_off` uploads" in done.stderr
    runs = list_runs(tmp_path, "cut_off")
    assert [run.name for run in runs] == ["cut_off-t0", "cut_off-t1", "cut_off-summary"]
    assert {run.sync for run in runs} == {"unsynced"}


# The slower mlp's epochs: each of its 12 training batches of 128 digits waits 250 ms or more,
# so an epoch outlasts W&B's flush of a run's file (every 2 s, README) by a second or more.
EPOCH_AT_LEAST = 12 * 0.25      # seconds
WATCHED = 2                     # epochs in which the run's file must grow


def test_a_killed_sweep_leaves_an_offline_run_that_still_syncs(tmp_path):
    """W&B writes a trial's run file every 2 s as sweep ships it (W&B's own default is 15 s),
    so a trial killed mid-run leaves an offline run with its epochs so far. The epochs are the
    clock: each outlasts a flush, so the file grows within each epoch (two epochs running
    could not both hold a write 15 s apart), and at the kill it holds all but the last."""
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "run", "killed",
               "--param", "lr=0.01..0.1", "--set", "model=failing_models:slower_mlp", "--set",
               "width=8", "--set", "batch_size=128", "--set", "epochs=500", "--set",
               "evaluations_per_epoch=1", "--set", "noise_scale_every=0", "--trials", "1",
               "--wandb", "offline", "--root", tmp_path, "--json"]
    tests = str(Path(__file__).parent)
    env = _own_env(PYTHONPATH=os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    # Its own process group: the kill takes W&B's service down with it, like a lost machine.
    process = subprocess.Popen(list(map(str, command)), env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch = _RunFileWatch(tmp_path / "killed")
    try:
        wait_for(lambda: len(watch.look()) > WATCHED, timeout=300,
                 what=f"{WATCHED + 1} epochs", process=process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert watch.grew[1:WATCHED + 1] == [True] * WATCHED, watch.grew
    logged = len(watch.grew) - 1
    [run] = list_runs(tmp_path, "killed")
    assert run.sync == "unsynced"
    seen = leet_summary(run.folder)
    assert seen["state"] == "running" and seen["summary"]["epoch"] >= logged - 1, (logged, seen)
    assert "Would sync 1 run(s)" in subprocess.run(
        [sys.executable, "-m", "wandb", "sync", "--dry-run", run.folder],
        capture_output=True, text=True, timeout=60).stderr


class _RunFileWatch:
    """A trial's epochs as its metrics.jsonl shows them, and whether its W&B run file grew
    between each epoch and the next."""

    def __init__(self, study_dir: Path):
        self.study_dir, self.size = study_dir, 0
        self.grew: list[bool] = []    # [n]: between epoch n's line and the next (0: before 1)

    def look(self) -> list[bool]:
        """Called often, so that a look falls between each two events. The lines are read
        first: a write seen with a new line is counted after it, where a flush of that epoch
        belongs (a flush of the one before would be a second late)."""
        metrics = self.study_dir / "trials" / "00000" / "metrics.jsonl"
        epochs = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
        while len(self.grew) <= epochs:
            self.grew.append(False)
        run_file = next(self.study_dir.glob("wandb/*/run-*.wandb"), None)
        size = run_file.stat().st_size if run_file else 0
        if size != self.size:
            self.size, self.grew[-1] = size, True
        return self.grew[1:]


@pytest.mark.parametrize("signum, state, exit_code", [
    (signal.SIGTERM, "preempted", 1), (signal.SIGINT, "interrupted", 0)])
def test_a_signal_ends_the_trials_wandb_run_as_preempted_or_finished(tmp_path, signum, state,
                                                                     exit_code):
    """SIGTERM (preemption): the run is marked preempting, which W&B shows as preempted.
    Ctrl+C: a person stopped it, the run ends as finished. Either way it ends, tagged, and the
    study run sums the sweep up."""
    process = start("run", "signalled", *SLOW_SPACE, "--set", "epochs=30", "--trials", "1",
                    "--heartbeat", "1", "--wandb", "offline", "--root", tmp_path)
    last = tmp_path / "signalled" / "trials" / "00000" / "last.pt"
    wait_for(lambda: epochs_saved(last) >= 1, timeout=90, what="a first epoch", process=process)
    os.kill(process.pid, signum)
    code, _, err = finish(process)
    assert code == 128 + signum, err
    runs = {run.name: run.folder for run in list_runs(tmp_path, "signalled")}
    trial_run = leet_summary(runs["signalled-t0"])
    assert (trial_run["state"], trial_run["exit_code"]) == (
        "finished" if exit_code == 0 else "failed", exit_code)
    assert state in trial_run["tags"] and trial_run["summary"]["state"] == state
    marked = [r for r in leet_records(runs["signalled-t0"]) if r["type"] == "preempting"]
    assert len(marked) == (signum == signal.SIGTERM)
    assert leet_summary(runs["signalled-summary"])["state"] == "finished"


def test_a_retried_trial_gets_a_new_run_never_the_old_id(tmp_path):
    tracker = Tracker("offline")
    for _ in range(2):
        run = tracker.start_trial_run(study="again", trial_number=7, study_dir=tmp_path / "again",
                                      trial_dir=tmp_path / "again" / "trials" / "00007",
                                      config={}, tags=())
        run.log({"epoch": 1, "val_acc": 0.5})
        run.finish("completed", {})
    runs = list_runs(tmp_path, "again")
    assert [run.name for run in runs] == ["again-t7", "again-t7"]
    assert runs[0].run_id != runs[1].run_id


@pytest.mark.parametrize("flag, env, expected", [
    ("disabled", {"WANDB_API_KEY": "k" * 40}, "disabled"),
    (None, {"WANDB_MODE": "offline", "WANDB_API_KEY": "k" * 40}, "offline"),
    (None, {"WANDB_MODE": "dryrun"}, "offline"),
    (None, {"WANDB_API_KEY": "k" * 40}, "online"),
    (None, {}, "offline"),
])
def test_mode_flag_then_wandb_mode_then_credentials(flag, env, expected, monkeypatch, tmp_path):
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert resolve_mode(flag) == expected


def test_netrc_credentials_for_the_configured_host_mean_online(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine wandb.example.com login user password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.com")
    assert resolve_mode(None) == "online"
    monkeypatch.delenv("WANDB_BASE_URL")
    assert resolve_mode(None) == "offline"


def test_train_writes_tensorboard_events_on_request(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = sweep("train", *FAST, "--set", "epochs=2", "--set", "noise_scale_every=1", "--out",
                   tmp_path, "--tensorboard", "--quiet")
    assert result.exit_code == 0, result.stderr
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"val_acc", "train_loss", "lr", "val_ece_tempered", "val_temperature",
            "grad_noise_scale"} <= set(events.Tags()["scalars"])
