"""Crash recovery: SIGKILLed workers, Ctrl+C and SIGTERM, retries that resume from their
checkpoint, failing trials that do not stop the sweep, and running a study again. (Processes
killed again and again: tests/test_chaos.py.)"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import optuna
import pytest
from cli_helpers import sweep, sweep_json
from failing_models import HOLD, MEMORY_LOG
from optuna.trial import TrialState
from worker_helpers import (
    QUIET,
    SLOW_SPACE,
    TINY_SPACE,
    epochs_saved,
    finish,
    in_state,
    is_running,
    start,
    trials,
    wait_for,
)

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import signals, trial_loop, trial_queue
from torchsweep.sweeps.engine.objective import NullObserver
from torchsweep.sweeps.engine.orchestrate import run_study
from torchsweep.sweeps.engine.run_options import RunOptions
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.sweeps.engine.trial_loop import LoopSettings
from torchsweep.sweeps.storage import open_storage, storage_url
from torchsweep.sweeps.study.catalog import resolve
from torchsweep.trainer.checkpoint import load_checkpoint
from torchsweep.trainer.files import BEST, LAST

UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


def by_number(found):
    return {t.number: t for t in found}


# --- a worker dies ------------------------------------------------------------------------------

def test_a_killed_workers_trial_is_retried_and_resumes_from_its_checkpoint(tmp_path):
    sweep_json("create", "killed", *SLOW_SPACE, "--set", "epochs=8", "--trials", "1",
               "--root", tmp_path)
    first = start("worker", "killed", "--root", tmp_path, "--heartbeat", "0.3", *QUIET)
    last = tmp_path / "killed" / "trials" / "00000" / "last.pt"
    wait_for(lambda: epochs_saved(last) >= 2, timeout=90, what="two epochs", process=first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    saved = epochs_saved(last)

    code, _, err = finish(start("worker", "killed", "--root", tmp_path, "--heartbeat", "0.3",
                                *QUIET))
    assert code == 0, err
    lost, retry = sorted(trials("killed", tmp_path), key=lambda t: t.number)
    assert (lost.state, attrs.reason(lost)) == (TrialState.FAIL, "lost")
    assert retry.state == TrialState.COMPLETE
    assert attrs.retry_of(retry) == 0 and attrs.attempt(retry) == 2
    assert retry.params == lost.params
    assert 2 <= attrs.resumed_at(retry) == saved < 8     # not from epoch 0
    assert attrs.summary(retry).epochs_run == 8
    metrics = (tmp_path / "killed" / "trials" / "00001" / "metrics.jsonl").read_text()
    assert len(metrics.splitlines()) == 8
    shown = sweep("show", "killed", "--root", tmp_path, env={"COLUMNS": "200"}).stdout
    assert "failed (lost)" in shown and f"completed, retry of #0 from epoch {saved}" in shown


def test_a_trial_killed_before_its_first_heartbeat_is_reconciled(tmp_path):
    sweep_json("create", "early", *TINY_SPACE, "--trials", "2", "--root", tmp_path)
    study = optuna.load_study(study_name="early",
                              storage=open_storage(storage_url(tmp_path, None), create=False))
    claimed = trial_queue.claim(study)  # a worker claims trial 0, dies before its first beat
    assert claimed.number == 0

    report = sweep_json("worker", "early", "--root", tmp_path, "--heartbeat", "0.1", *QUIET)
    found = by_number(trials("early", tmp_path))
    assert (found[0].state, attrs.reason(found[0])) == (TrialState.FAIL, "lost")
    assert attrs.retry_of(found[2]) == 0 and found[2].state == TrialState.COMPLETE
    assert report["ran"] == 2 and found[1].state == TrialState.COMPLETE


def test_a_worker_killed_between_failing_a_lost_trial_and_queuing_its_retry(tmp_path):
    """The two storage writes of judging a trial lost: a worker killed between them leaves it
    failed with no retry. Once that is six heartbeats old, the next worker queues the retry."""
    sweep_json("create", "orphan", *TINY_SPACE, "--trials", "2", "--root", tmp_path)
    study = optuna.load_study(study_name="orphan",
                              storage=open_storage(storage_url(tmp_path, None), create=False))
    dead = trial_queue.claim(study)            # claimed by a worker that dies; then another
    settings = LoopSettings(heartbeat=0.1, max_retries=3)
    time.sleep(1)                              # judges it lost, and dies before queuing a retry
    with mock.patch.object(trial_loop.retries, "enqueue_retry", side_effect=SystemExit):
        with pytest.raises(SystemExit):
            trial_loop.reconcile(study, settings)
    assert [t.number for t in study.get_trials(states=(TrialState.WAITING,))] == [1]

    report = sweep_json("worker", "orphan", "--root", tmp_path, "--heartbeat", "0.1", *QUIET)
    found = by_number(trials("orphan", tmp_path))
    assert (found[dead.number].state, attrs.reason(found[dead.number])) == \
        (TrialState.FAIL, "lost")
    [retry] = [t for t in found.values() if attrs.retry_of(t) == dead.number]
    assert retry.state == TrialState.COMPLETE and report["ran"] == 2
    assert len(found) == 3


# --- Ctrl+C and preemption -----------------------------------------------------------------------

@pytest.mark.parametrize("signum, workers, code, reason", [
    (signal.SIGINT, 1, 130, "interrupted"), (signal.SIGTERM, 2, 143, "preempted")])
def test_a_signal_exits_with_its_code_and_leaves_no_running_trial(tmp_path, signum, workers,
                                                                    code, reason):
    process = start("run", "stopped", *SLOW_SPACE, "--set", "epochs=30", "--trials", "2",
                    "--workers", workers, "--heartbeat", "1", "--root", tmp_path, *QUIET)
    folder = tmp_path / "stopped" / "trials"
    wait_for(lambda: any(epochs_saved(f / "last.pt") for f in folder.glob("*")),
             timeout=90, what="a first epoch", process=process)
    os.kill(process.pid, signum)   # the parent only: with workers, it forwards the signal
    returncode, _, err = finish(process)

    assert returncode == code, err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {reason} by {signal.Signals(signum).name}")
    found = trials("stopped", tmp_path)
    assert not in_state(found, TrialState.RUNNING)
    stopped = [t for t in found if attrs.reason(t) == reason]
    assert stopped and all(t.state == TrialState.FAIL for t in stopped), \
        [(t.number, t.state.name, attrs.reason(t)) for t in found]
    # Each is queued again, to resume from its checkpoint when the study runs next.
    retried = {attrs.retry_of(t) for t in in_state(found, TrialState.WAITING) if attrs.is_retry(t)}
    assert retried == {t.number for t in stopped}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no partial files


def test_ctrl_c_reaches_both_local_workers_and_a_rerun_finishes_the_study(tmp_path, monkeypatch):
    """SIGINT to `sweep run --workers 2` (the parent alone, as `kill -INT` sends it): it forwards
    Ctrl+C to both workers, each queues its trial to resume, and it exits with 130. Both
    trials are held in their second epoch until the test lets go, so the signal finds them
    training. The same command again finishes the study with exactly its trials."""
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv(HOLD, str(hold))
    args = ("run", "forwarded", "--param", "lr=log:0.01..0.1", "--set",
            "model=failing_models:held_mlp", "--set", "width=8", "--set", "batch_size=128",
            "--set", "epochs=3", "--sampler", "random", "--pruner", "none", "--workers", "2",
            "--heartbeat", "1", "--root", tmp_path, *QUIET)
    process = start(*args, "--trials", "2")
    folders = [tmp_path / "forwarded" / "trials" / f"{number:05d}" for number in (0, 1)]
    wait_for(lambda: all(epochs_saved(folder / LAST) >= 1 for folder in folders), timeout=120,
             what="both workers' first epochs", process=process)
    os.kill(process.pid, signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted by SIGINT")
    found = trials("forwarded", tmp_path)
    assert {t.number: (t.state, attrs.reason(t)) for t in found if not attrs.is_retry(t)} == {
        0: (TrialState.FAIL, "interrupted"), 1: (TrialState.FAIL, "interrupted")}
    assert {attrs.retry_of(t) for t in in_state(found, TrialState.WAITING)} == {0, 1}

    hold.unlink()
    code, _, err = finish(start(*args))          # no --trials: it runs what was queued
    assert code == 0, err
    found = trials("forwarded", tmp_path)
    assert len(found) == 4 and len([t for t in found if not attrs.is_retry(t)]) == 2
    retries = [t for t in found if attrs.is_retry(t)]
    assert sorted(attrs.retry_of(t) for t in retries) == [0, 1]
    assert all(t.state == TrialState.COMPLETE and attrs.resumed_at(t) == 1 for t in retries), \
        [(t.number, t.state.name, t.user_attrs) for t in retries]


def test_workers_of_a_killed_parent_stop_and_leave_their_trials_resumable(tmp_path):
    process = start("run", "orphaned", *SLOW_SPACE, "--set", "epochs=60", "--trials", "2",
                    "--workers", "2", "--heartbeat", "1", "--root", tmp_path, *QUIET)
    folder = tmp_path / "orphaned" / "trials"
    wait_for(lambda: sum(bool(epochs_saved(f / "last.pt")) for f in folder.glob("*")) == 2,
             timeout=90, what="both workers' first epochs", process=process)
    workers = {int(pid) for pid in
               Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()}
    assert len(workers) >= 2
    os.kill(process.pid, signal.SIGKILL)   # the parent alone, which forwards nothing
    process.wait()

    wait_for(lambda: not any(map(is_running, workers)), timeout=60, what="the workers to stop")
    found = trials("orphaned", tmp_path)
    assert not in_state(found, TrialState.RUNNING)
    preempted = {t.number for t in found if attrs.reason(t) == "preempted"}
    assert preempted == {0, 1}, [(t.number, t.state.name, attrs.reason(t),
                                  str(t.user_attrs.get(attrs.ERROR))[-1500:]) for t in found]
    retried = {attrs.retry_of(t) for t in in_state(found, TrialState.WAITING)}
    assert retried == preempted              # resumed from their checkpoints by the next run


def test_signals_wait_for_a_safe_moment_and_earlier_handlers_still_run():
    seen = []
    earlier = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with signals.stopping_on_signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)                       # not interruptible: nothing raised yet
            with pytest.raises(Stopped) as stopped:
                signals.check()
        assert stopped.value.exit_code == 130 and stopped.value.reason == "interrupted"
        with pytest.raises(Stopped) as stopped, signals.stopping_on_signals(), \
                signals.interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        assert stopped.value.exit_code == 143 and seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # restored
    finally:
        signal.signal(signal.SIGTERM, earlier)


class _InterruptAtEpoch(NullObserver):
    """An observer that presses Ctrl+C once the running trial saved `epoch` epochs."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def epoch_ended(self, number, metrics) -> None:
        if metrics["epoch"] == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def _interrupted_trial(root: Path, study: str, *, epochs: int, at_epoch: int,
                       max_retries: int = 0):
    """A one-trial study whose trial Ctrl+C stopped after `at_epoch` epochs; its retry queued
    when max_retries allows one."""
    spec = resolve(study, root, params=["lr=log:0.01..0.1"],
                   sets=[f"epochs={epochs}", "model=mlp", "width=8"])
    with pytest.raises(Stopped):
        run_study(spec, RunOptions(root=root, trials=1, wandb="disabled",
                                   max_retries=max_retries),
                  observer=_InterruptAtEpoch(at_epoch))
    return trials(study, root)[0]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("flag, resumed", [("--retry-failed", True), ("--restart-failed", False)])
def test_failed_trials_retried_from_their_checkpoint_or_restarted(tmp_path, flag, resumed):
    failed = _interrupted_trial(tmp_path, "again", epochs=4, at_epoch=2)
    assert failed.state == TrialState.FAIL and attrs.reason(failed) == "interrupted"

    report = sweep_json("run", "again", flag, "--root", tmp_path, *QUIET)
    assert report["ran"] == 1                      # the failed trial only, no new ones
    retry = by_number(trials("again", tmp_path))[1]
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params
    assert attrs.resumed_at(retry) == (2 if resumed else None)
    assert attrs.summary(retry).epochs_run == 4
    # Recorded with Optuna's own keys, so Optuna's tools see the retry as one.
    callback = optuna.storages.RetryHeartbeatStaleTrialCallback
    assert callback.retried_trial_number(retry) == failed.number
    assert callback.retry_history(retry) == [failed.number]


def test_a_retry_whose_last_checkpoint_is_truncated_resumes_from_the_best_one(tmp_path, caplog):
    """One resume policy: a retry goes through the trainer's loader, which falls back to the
    newest valid checkpoint beside a truncated last.pt and says so."""
    failed = _interrupted_trial(tmp_path, "torn", epochs=5, at_epoch=3)
    folder = tmp_path / attrs.trial_dir(failed)
    best_epoch = load_checkpoint(folder / BEST)["epoch"]
    last = folder / LAST
    last.write_bytes(last.read_bytes()[:1000])          # a crash mid-write, on another writer

    with caplog.at_level("WARNING"):
        report = sweep_json("run", "torn", "--retry-failed", "--root", tmp_path, *QUIET)
    assert report["ran"] == 1
    retry = by_number(trials("torn", tmp_path))[1]
    assert retry.state == TrialState.COMPLETE
    assert attrs.resumed_at(retry) == best_epoch >= 1          # not from epoch 0
    assert attrs.summary(retry).epochs_run == 5
    assert any("truncated" in message and "resuming from" in message and "best.pt" in message
               for message in caplog.messages), caplog.messages


def test_a_retry_with_no_valid_checkpoint_starts_afresh_and_says_why(tmp_path, caplog):
    """A retry never fails for want of a checkpoint: it trains from epoch 0, and the log says
    which folder held none that loads."""
    failed = _interrupted_trial(tmp_path, "lost", epochs=3, at_epoch=2)
    folder = tmp_path / attrs.trial_dir(failed)
    for name in (LAST, BEST):
        (folder / name).write_bytes(b"")

    with caplog.at_level("WARNING"):
        report = sweep_json("run", "lost", "--retry-failed", "--root", tmp_path, *QUIET)
    assert report["ran"] == 1
    retry = by_number(trials("lost", tmp_path))[1]
    assert retry.state == TrialState.COMPLETE and attrs.resumed_at(retry) is None
    assert attrs.summary(retry).epochs_run == 3
    assert any(f"no valid last.pt or best.pt in {folder} to resume from either" in message
               for message in caplog.messages), caplog.messages


# --- failing trials -----------------------------------------------------------------------------

def test_out_of_memory_and_diverged_trials_do_not_stop_the_sweep(tmp_path):
    report = sweep_json("run", "fragile", "--param", "batch_size=32,256",
                        "--param", "lr=0.05,1e10", "--sampler", "grid", "--pruner", "none",
                        "--set", "model=failing_models:out_of_memory_above_128",
                        "--set", "epochs=2", "--set", "optimizer=sgd", "--set", "momentum=0.9",
                        "--set", "scheduler=constant", "--max-failures", "1",
                        "--root", tmp_path, *QUIET)
    assert report["ran"] == 4
    reasons = {(t["params"]["batch_size"], t["params"]["lr"]): (t["state"], t["reason"])
               for t in report["trials"]}
    assert reasons == {(32, 0.05): ("completed", None), (32, 1e10): ("pruned", "diverged"),
                       (256, 0.05): ("pruned", "out_of_memory"),
                       (256, 1e10): ("pruned", "out_of_memory")}
    oom = [t for t in trials("fragile", tmp_path) if attrs.reason(t) == "out_of_memory"]
    assert "OutOfMemoryError" in oom[0].user_attrs["error"]
    table = sweep("show", "fragile", "--root", tmp_path).stdout   # 80 columns: cells wrap
    assert "(out_of_memor" in table and "(diverged)" in table


HEADROOM = 3 * 2 ** 30     # bytes the sweep's address space may grow by after start-up
# `sweep` under an address-space limit (RLIMIT_AS), set once torch, Optuna and the CLI are
# imported: what the sweep allocates beyond them, trials included, must fit in HEADROOM.
LIMITED_SWEEP = f"""
import resource
import torchsweep.sweeps.engine.orchestrate
from torchsweep.cli.app import app
from failing_models import _address_space
limit = _address_space() + {HEADROOM}
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
app()
"""


def test_a_real_cpu_out_of_memory_is_freed_and_the_sweep_goes_on(tmp_path):
    """Three trials in one process whose address space may grow by 3 GiB: 1 and 1.5 GiB fit,
    8 GiB fails in torch's CPU allocator partway, about 2.5 GiB held by then. The grid (seed 0)
    runs it second: the trial after it fits only if the failed trial's memory was given back."""
    log = tmp_path / "memory.jsonl"
    tests = str(Path(__file__).parent)
    env = {**os.environ, MEMORY_LOG: str(log), "WANDB_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])),
           "MALLOC_ARENA_MAX": "2"}    # glibc reserves 64 MiB of address space per arena
    done = subprocess.run(
        [sys.executable, "-c", LIMITED_SWEEP, "run", "oom_cpu", "--param", "width=1024,8192,1536",
         "--sampler", "grid", "--seed", "0", "--pruner", "none", "--set", "epochs=1",
         "--set", "device=cpu",    # the CPU allocator's out-of-memory, on a GPU machine too
         "--set", "model=failing_models:holds_width_mib", "--max-failures", "1",
         "--root", tmp_path, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    outcome = {t["params"]["width"]: (t["state"], t["reason"]) for t in report["trials"]}
    assert outcome == {1024: ("completed", None), 8192: ("pruned", "out_of_memory"),
                       1536: ("completed", None)}
    [oom] = [t for t in trials("oom_cpu", tmp_path) if attrs.reason(t) == "out_of_memory"]
    assert "can't allocate memory" in oom.user_attrs["error"]    # the allocator's own words
    started = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["width"] for entry in started][1] == 8192      # and a trial ran after it,
    # which started where the failed one had, give or take 128 MiB: its blocks were freed.
    assert started[2]["address_space"] < started[1]["address_space"] + 2 ** 27


def test_failures_in_a_row_stop_the_sweep_with_their_tracebacks(tmp_path):
    report = sweep_json("run", "broken", "--param", "lr=log:0.01..0.1", "--set", "epochs=1",
                        "--set", "model=failing_models:broken", "--trials", "4",
                        "--max-failures", "2", "--root", tmp_path, *QUIET)
    assert report["ran"] == 2
    found = trials("broken", tmp_path)
    failed = in_state(found, TrialState.FAIL)
    assert len(failed) == 2 and len(in_state(found, TrialState.WAITING)) == 2
    assert all(attrs.reason(t) == "error" and "boom: a bug in the model" in
               t.user_attrs["error"] and "Traceback" in t.user_attrs["error"] for t in failed)
    shown = sweep("show", "broken", "--root", tmp_path, env={"COLUMNS": "200"}).stdout
    assert "failed (error)" in shown   # at 80 columns the state wraps beside whole values


# --- running the study again (chaos: tests/test_chaos.py) ------------------------------------

def test_the_same_command_after_ctrl_c_finishes_the_stopped_trial_and_adds_none(tmp_path):
    """Ctrl+C in a study's last trial leaves only its retry queued: the same command again
    resumes it and queues nothing new."""
    failed = _interrupted_trial(tmp_path, "stopped_last", epochs=3, at_epoch=1, max_retries=3)
    assert attrs.reason(failed) == "interrupted"
    report = sweep_json("run", "stopped_last", "--root", tmp_path, *QUIET)
    assert report["ran"] == 1
    lost, retry = sorted(trials("stopped_last", tmp_path), key=lambda t: t.number)
    assert (lost.state, retry.state, attrs.retry_of(retry)) == \
        (TrialState.FAIL, TrialState.COMPLETE, 0)
    assert attrs.resumed_at(retry) == 1


def test_running_a_finished_study_again_adds_its_trials_and_redoes_none(tmp_path):
    """A plain re-run of a finished study queues the study's `trials` anew (--trials says how
    many otherwise); the finished trials stay as they are and none is retried."""
    study = tmp_path / "done.yaml"
    study.write_text("method: random\ntrials: 2\npruner: none\n"
                     "metric: {name: val_acc, goal: maximize}\nparameters:\n"
                     "  lr: {min: 0.01, max: 0.1}\n  epochs: {value: 1}\n  model: {value: mlp}\n"
                     "  width: {value: 8}\n")
    first = sweep_json("run", study, "--root", tmp_path, *QUIET)
    assert first["ran"] == 2
    before = {t.number: (t.state, t.value, t.datetime_complete) for t in trials("done", tmp_path)}
    again = sweep_json("run", study, "--root", tmp_path, *QUIET)
    assert again["ran"] == 2
    found = trials("done", tmp_path)
    assert [t.number for t in found] == [0, 1, 2, 3]
    assert {t.number: (t.state, t.value, t.datetime_complete) for t in found[:2]} == before
    assert not [t for t in found if attrs.is_retry(t)]
    assert not in_state(found, *UNFINISHED)


def test_continuing_an_interrupted_run_finishes_its_queue_first(tmp_path):
    sweep_json("create", "queued", *TINY_SPACE, "--trials", "3", "--root", tmp_path)
    report = sweep_json("run", "queued", "--root", tmp_path, *QUIET)   # no --trials: continue
    assert report["ran"] == 3 and len(report["trials"]) == 3
    assert Path(tmp_path / "queued" / "study.yaml").is_file()


def test_a_signal_during_a_shielded_step_is_raised_once_the_step_is_done():
    """An artifact upload is shielded: SIGTERM during it waits, then stops the trial."""
    steps = []
    with signals.stopping_on_signals():
        with pytest.raises(Stopped) as stopped, signals.interruptible():
            with signals.shielded():
                os.kill(os.getpid(), signal.SIGTERM)
                steps.append("uploaded")
                steps.append("attribute moved")
            steps.append("next epoch")
    assert steps == ["uploaded", "attribute moved"] and stopped.value.exit_code == 143
