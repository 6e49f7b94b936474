"""Chaos, in the style of Ray Tune's restore stress test: every process of a sweep is killed at
random moments and started again, in a seeded, bounded loop, and the study still ends exact.

Invariants, whatever was killed when: every trial ends completed or pruned (its failed attempts
each retried), none is left running or queued, no trial number repeats, the count is exactly
the study's, every retry resumed from the newest checkpoint its failed attempts left, and the
best value is the best of the completed trials.
"""
from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from cli_helpers import sweep_json
from optuna.trial import TrialState
from worker_helpers import (
    QUIET,
    epochs_saved,
    finish,
    in_state,
    server_study,
    start,
    trials,
    wait_for,
)

from torchsweep.sweeps import attrs
from torchsweep.trainer.files import LAST, METRICS

TRIALS = 8
EPOCHS = 12
# Trials of a few seconds that leave the CPU to the other processes (each forward pass also
# waits 10 ms), with a checkpoint every epoch, so that kills land mid-trial; run_cap keeps
# `sweep run` from queueing more when it is started again.
STUDY = """\
name: {name}
method: random
trials: {trials}
run_cap: {trials}
pruner: none
metric: {{name: val_acc, goal: maximize}}
parameters:
  lr: {{distribution: log_uniform_values, min: 0.01, max: 0.1}}
  epochs: {{value: {epochs}}}
  model: {{value: "failing_models:slow_mlp"}}
  width: {{value: 8}}
  batch_size: {{value: 128}}
  threads: {{value: 1}}
"""
FAST_RECOVERY = ("--heartbeat", "0.3", "--max-retries", "5", *QUIET)   # lost after 1.8 s
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def kill_and_restart(commands: list[tuple], trials_folder: Path, *, seed: int, kills: int,
                     pause=(1.0, 3.0), signals=(signal.SIGKILL,), parent_only=(False,)) -> None:
    """Start each `sweep` command. Once a trial is about halfway, SIGKILL them all at once (a
    power cut: every process is killed, and a retry has a checkpoint to resume from)
    and start them again. Then `kills` times, after a random pause, kill one of them as a
    crash, a person or a lost machine would, and start it again. Then let them all finish.
    `parent_only` choices say whether a kill spares the process's own workers (they notice
    their parent is gone and give their trials back)."""
    rng = random.Random(seed)
    running = [start(*command) for command in commands]
    try:
        wait_for(lambda: any(2 <= epochs_saved(folder / LAST) <= EPOCHS // 2
                             for folder in trials_folder.glob("*")),
                 timeout=120, what="a trial halfway", process=running[0])
        for index, process in enumerate(running):
            os.killpg(process.pid, signal.SIGKILL)
            finish(process)
            running[index] = start(*commands[index])
        for _ in range(kills):
            time.sleep(rng.uniform(*pause))
            victim = rng.randrange(len(commands))
            signum, spare_workers = rng.choice(signals), rng.choice(parent_only)
            if running[victim].poll() is None:
                if spare_workers:
                    os.kill(running[victim].pid, signum)
                else:
                    os.killpg(running[victim].pid, signum)
            finish(running[victim])
            running[victim] = start(*commands[victim])
        for process in running:
            code, _, err = finish(process, timeout=180)
            assert code == 0, err
    finally:
        for process in running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def assert_every_trial_done_once(study: str, root: Path, storage: str | None = None) -> None:
    found = trials(study, root, storage)
    numbers = [t.number for t in found]
    assert len(numbers) == len(set(numbers))
    assert not in_state(found, TrialState.RUNNING, TrialState.WAITING)
    retry_of = {attrs.retry_of(t): t for t in found if attrs.is_retry(t)}
    for failed in in_state(found, TrialState.FAIL):   # a killed attempt, retried
        assert attrs.reason(failed) in ("lost", "preempted", "interrupted"), failed.user_attrs
        assert failed.number in retry_of, f"trial {failed.number} failed and was not retried"
    last_attempts = [t for t in found if t.number not in retry_of]
    assert len(last_attempts) == TRIALS == len([t for t in found if not attrs.is_retry(t)])
    assert all(t.state in FINISHED for t in last_attempts), [(t.number, t.state.name)
                                                             for t in last_attempts]
    resumed = 0
    for retry in retry_of.values():
        # An attempt that logged k epochs had saved a checkpoint of epoch k - 1 at least...
        saved = max((_epochs_logged(root / folder) - 1 for folder in attrs.resume_dirs(retry)),
                    default=0)
        # ...and a retry that got as far as training (a killed one may not have) resumed there.
        trained = retry.state in FINISHED or (root / str(attrs.trial_dir(retry)) / METRICS).exists()
        if saved >= 1 and (trained or attrs.resumed_at(retry) is not None):
            assert (attrs.resumed_at(retry) or 0) >= saved, (retry.number, retry.user_attrs)
            resumed += 1
    assert resumed >= 1      # the power cut left a checkpoint to resume from
    best = sweep_json("best", study, "--root", root, *(("--storage", storage) if storage else ()))
    assert best["best"]["value"] == max(t.value for t in in_state(found, TrialState.COMPLETE))


def _epochs_logged(folder: Path) -> int:
    metrics = folder / METRICS
    return len(metrics.read_text().splitlines()) if metrics.is_file() else 0


def test_three_workers_and_a_run_on_postgresql_killed_and_restarted(tmp_path):
    """`sweep run` and three `sweep worker`s (two trials each) on the machine's PostgreSQL,
    SIGKILLed all at once, then one at a time, and started again each time."""
    with server_study() as (url, name):
        study = tmp_path / f"{name}.yaml"
        study.write_text(STUDY.format(name=name, trials=TRIALS, epochs=EPOCHS))
        assert sweep_json("create", study, "--storage", url, "--root", tmp_path)["queued"] == TRIALS
        storage = ("--storage", url, "--root", tmp_path, *FAST_RECOVERY)
        commands = [("run", study, *storage)] + [("worker", name, *storage)] * 3
        kill_and_restart(commands, tmp_path / name / "trials", seed=16, kills=3)
        assert_every_trial_done_once(name, tmp_path, url)


def test_a_run_with_two_local_workers_killed_and_restarted_on_the_journal(tmp_path):
    """`sweep run --workers 2` on the embedded journal: killed whole (the parent and its
    workers, SIGKILL), or the parent alone (its workers notice and give their trials back), or
    stopped by Ctrl+C or SIGTERM, and started again."""
    study = tmp_path / "chaos.yaml"
    study.write_text(STUDY.format(name="chaos", trials=TRIALS, epochs=EPOCHS))
    kill_and_restart([("run", study, "--workers", "2", "--root", tmp_path, *FAST_RECOVERY)],
                     tmp_path / "chaos" / "trials", seed=5, kills=3, pause=(1.0, 3.0),
                     signals=(signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGTERM),
                     parent_only=(False, True))
    assert_every_trial_done_once("chaos", tmp_path)
