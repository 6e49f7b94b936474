"""Chaos, in the style of Ray Tune's restore stress test: every process of a sweep is killed by
each signal it can get, at moments drawn from a seeded generator (after a drawn number of
epochs), and started again, in a bounded loop, and the study still ends exact.

Invariants, whatever was killed when: every trial ends completed or pruned (its failed attempts
each retried), none is left running or queued, no trial number repeats, the count is exactly
the study's, every retry resumed from the newest checkpoint its failed attempts left, and the
best value is the best of the completed trials.
"""
from __future__ import annotations

import os
import random
import signal
from pathlib import Path

from cli_helpers import sweep_json
from optuna.trial import TrialState
from worker_helpers import (
    QUIET,
    SLOW_STUDY,
    finish,
    in_state,
    server_study,
    start,
    trials,
    wait_for,
)

from torchsweep.sweeps import attrs
from torchsweep.trainer.files import METRICS

TRIALS = 8
EPOCHS = 12
# worker_helpers' slow trials, a checkpoint every epoch, so that kills land mid-trial; run_cap
# keeps `sweep run` from queueing more when it is started again.
STUDY = SLOW_STUDY + "trials: {trials}\nrun_cap: {trials}\n"
# Lost after 6 s without a beat: a worker starved of CPU on a busy machine, or waiting on the
# storage, for a second or two is not taken for dead (its trial would then train on beside its
# retry), and a killed one is still retried within seconds.
FAST_RECOVERY = ("--heartbeat", "1", "--max-retries", "5", *QUIET)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# What a sweep's process exits with, killed by each signal (a negative code: killed by it).
EXIT_CODES = {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}


def kill_and_restart(commands: list[tuple], trials_folder: Path, *, seed: int,
                     kills: list[tuple[signal.Signals, bool]]) -> None:
    """Start each `sweep` command. Once a trial is about halfway, SIGKILL them all at once (a
    power cut: every process is killed, and a retry has a checkpoint to resume from) and start
    them again. Then send each of `kills` once, in a seeded random order, to a seeded random
    command, as a crash, a person, a scheduler or a lost machine would, and start it again;
    each `(signal, spare_workers)` says whether the signal spares the process's own workers
    (they notice their parent is gone and give their trials back). Then let them all finish.

    Each kill waits on the trials' files, not on the clock: it lands once the processes started
    since the last kill have trained a seeded 1 to 3 epochs more, while one of their trials has
    3 epochs or more to go, so that every signal finds a trial to stop however fast or slow
    the machine is."""
    rng = random.Random(seed)
    running = [start(*command) for command in commands]
    try:
        wait_for(lambda: any(2 <= _epochs_logged(folder) <= EPOCHS // 2
                             for folder in trials_folder.glob("*")),
                 timeout=120, what="a trial halfway", process=running[0])
        for index, process in enumerate(running):
            os.killpg(process.pid, signal.SIGKILL)
            finish(process)
            running[index] = start(*commands[index])
        for signum, spare_workers in rng.sample(kills, len(kills)):
            victim, epochs = rng.randrange(len(commands)), rng.randint(1, 3)
            before = set(trials_folder.glob("*"))
            wait_for(lambda: _trained_since(before, trials_folder, epochs), timeout=120,
                     what=f"{epochs} epochs before {signum.name}", process=running[victim])
            (os.kill if spare_workers else os.killpg)(running[victim].pid, signum)
            code, _, err = finish(running[victim])
            assert code == EXIT_CODES[signum], (signum.name, code, err)
            running[victim] = start(*commands[victim])
        for process in running:
            code, _, err = finish(process, timeout=180)
            assert code == 0, err
    finally:
        for process in running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def _trained_since(before: set[Path], trials_folder: Path, epochs: int) -> bool:
    """Whether the trials started since `before` was listed logged `epochs` epochs together,
    and one of them has 3 epochs or more to go."""
    logged = [_epochs_logged(folder) for folder in set(trials_folder.glob("*")) - before]
    return sum(logged) >= epochs and any(1 <= count <= EPOCHS - 3 for count in logged)


def assert_every_trial_done_once(study: str, root: Path, reasons: set[str],
                                 storage: str | None = None) -> None:
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
    # What each kill did: a process killed outright leaves its trial to be found lost, an
    # orphaned or preempted worker gives it back as preempted, Ctrl+C as interrupted.
    assert {attrs.reason(t) for t in in_state(found, TrialState.FAIL)} == reasons
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
        study.write_text(STUDY.format(name=name, trials=TRIALS, epochs=EPOCHS, batch_size=128))
        assert sweep_json("create", study, "--storage", url, "--root", tmp_path)["queued"] == TRIALS
        storage = ("--storage", url, "--root", tmp_path, *FAST_RECOVERY)
        commands = [("run", study, *storage)] + [("worker", name, *storage)] * 3
        kill_and_restart(commands, tmp_path / name / "trials", seed=16,
                         kills=[(signal.SIGKILL, False)] * 3)
        assert_every_trial_done_once(name, tmp_path, {"lost"}, url)


def test_a_run_with_two_local_workers_killed_and_restarted_on_the_journal(tmp_path):
    """`sweep run --workers 2` on the embedded journal: killed whole (the parent and its
    workers, SIGKILL), the parent alone (its workers notice and give their trials back),
    stopped by Ctrl+C (SIGINT to the whole process group, as a terminal sends it) and by
    SIGTERM (to the parent, which forwards it), each once, and started again."""
    study = tmp_path / "chaos.yaml"
    study.write_text(STUDY.format(name="chaos", trials=TRIALS, epochs=EPOCHS, batch_size=128))
    kill_and_restart([("run", study, "--workers", "2", "--root", tmp_path, *FAST_RECOVERY)],
                     tmp_path / "chaos" / "trials", seed=5,
                     kills=[(signal.SIGKILL, False), (signal.SIGKILL, True),
                            (signal.SIGINT, False), (signal.SIGTERM, True)])
    assert_every_trial_done_once("chaos", tmp_path, {"lost", "preempted", "interrupted"})
