"""Workers on a PostgreSQL that goes away: a private cluster of the test's own (never the
machine's server) stopped at once, as a crash or a failover stops it, and started again, in a
seeded, bounded loop; and a worker paused (SIGSTOP) for longer than the heartbeat timeout.

Invariants: within the grace, every worker rides the outage out (exit 0, no traceback, one line
each way), training goes on meanwhile, and the study ends with exactly its trials, none lost;
past the grace, each worker exits 4 with one line and a rerun finishes the study; a paused
worker whose trial was retried elsewhere writes nothing more to it."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from cli_helpers import sweep_json
from optuna.trial import TrialState
from private_postgres import PASSWORD, PrivatePostgres
from worker_helpers import QUIET, SLOW_STUDY, in_state, start, trials, wait_for

from torchsweep.sweeps import attrs
from torchsweep.trainer.files import METRICS

EPOCHS = 12
BEATS = ("--heartbeat", "0.5", *QUIET)        # a worker silent for 3 s is judged lost


@pytest.fixture(scope="module")
def postgres():
    cluster = PrivatePostgres()
    yield cluster
    cluster.close()


class Worker:
    """`sweep ARGS` in its own process, its stderr read line by line as it comes."""

    def __init__(self, *args):
        self.process = start(*args)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def said(self, words: str) -> int:
        return sum(words in line for line in self.lines)

    def finish(self, timeout: float = 180) -> int:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail(f"`sweep` did not end within {timeout} s; stderr:\n" + self.stderr)
        self._reader.join(10)
        return self.process.returncode

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


def make_study(tmp_path: Path, url: str, name: str, count: int, batch_size: int = 128) -> None:
    study = tmp_path / f"{name}.yaml"
    study.write_text(SLOW_STUDY.format(name=name, epochs=EPOCHS, batch_size=batch_size))
    queued = sweep_json("create", study, "--trials", count, "--storage", url, "--root", tmp_path)
    assert queued["queued"] == count


def epochs_logged(folder: Path) -> int:
    metrics = folder / METRICS
    return len(metrics.read_text().splitlines()) if metrics.is_file() else 0


def training(tmp_path: Path, name: str) -> dict[Path, int]:
    """The trial folders with epochs logged, and how many."""
    return {folder: epochs_logged(folder) for folder in (tmp_path / name / "trials").glob("*")}


def test_two_workers_ride_out_restarts_of_postgresql(postgres, tmp_path):
    """Two `sweep worker`s while the server is stopped at once and started again, twice, each
    time while trials train (when: drawn from a seed); the study ends exact."""
    rng = random.Random(26)
    make_study(tmp_path, postgres.url, "outages", 4)
    common = ("--storage", postgres.url, "--root", tmp_path, "--storage-grace", "60", *BEATS)
    workers = [Worker("worker", "outages", *common) for _ in range(2)]
    try:
        for outage in range(1, 3):
            # Stopped while a trial is partway (the epoch drawn), with epochs left to train.
            partway = rng.randint(1, EPOCHS // 2)
            wait_for(lambda: any(partway <= n <= EPOCHS - 4
                                 for n in training(tmp_path, "outages").values()),
                     timeout=120, what=f"a trial at epoch {partway}")
            postgres.stop()
            before = training(tmp_path, "outages")
            wait_for(lambda: all(w.said("is unreachable") == outage for w in workers),
                     timeout=60, what="each worker to say the storage is unreachable")
            # Training goes on while the server is down.
            wait_for(lambda: any(n > before.get(folder, 0)
                                 for folder, n in training(tmp_path, "outages").items()),
                     timeout=60, what="an epoch trained during the outage")
            postgres.start()
            wait_for(lambda: all(w.said("is back after") == outage for w in workers),
                     timeout=60, what="each worker to say the storage is back")
        for worker in workers:
            assert worker.finish() == 0, worker.stderr
            assert "Traceback" not in worker.stderr
            assert worker.said("is unreachable") == worker.said("is back after") == 2
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGKILL)
    found = trials("outages", tmp_path, postgres.url)
    assert sorted(t.number for t in found) == list(range(4))
    assert all(t.state == TrialState.COMPLETE for t in found), [(t.number, t.state.name,
                                                                 attrs.reason(t)) for t in found]


def test_past_the_grace_workers_exit_4_in_one_line_and_a_rerun_finishes(postgres, tmp_path):
    make_study(tmp_path, postgres.url, "gone", 2)
    common = ("--storage", postgres.url, "--root", tmp_path, "--storage-grace", "2", *BEATS)
    workers = [Worker("worker", "gone", *common) for _ in range(2)]
    wait_for(lambda: len(in_state(trials("gone", tmp_path, postgres.url),
                                  TrialState.RUNNING)) == 2,
             timeout=120, what="both workers training")
    postgres.stop()
    try:
        for worker in workers:
            assert worker.finish() == 4, worker.stderr
            assert "Traceback" not in worker.stderr and PASSWORD not in worker.stderr
            last = worker.lines[-1]
            assert last.startswith(f"error: storage postgresql://postgres:***@127.0.0.1:"
                                   f"{postgres.port}/postgres unreachable for "), last
            assert "--storage-grace 2" in last
    finally:
        postgres.start()
    rerun = Worker("worker", "gone", "--storage", postgres.url, "--root", tmp_path, *BEATS)
    assert rerun.finish() == 0, rerun.stderr
    found = trials("gone", tmp_path, postgres.url)
    retried = {attrs.retry_of(t) for t in found if attrs.is_retry(t)}
    last_attempts = [t for t in found if t.number not in retried]
    assert len([t for t in found if not attrs.is_retry(t)]) == 2 == len(last_attempts)
    assert all(t.state == TrialState.COMPLETE for t in last_attempts)
    for failed in in_state(found, TrialState.FAIL):      # left by the workers that gave up
        assert attrs.reason(failed) in ("lost", "storage_lost") and failed.number in retried


def test_a_paused_worker_leaves_the_trial_retried_elsewhere(postgres, tmp_path):
    """A worker SIGSTOPped mid-epoch for longer than the heartbeat timeout: another worker
    judges its trial lost and runs the retry; continued, the paused one writes nothing more to
    the trial and goes on (here: to find the queue empty)."""
    make_study(tmp_path, postgres.url, "paused", 1, batch_size=32)   # epochs of about 1 s
    common = ("--storage", postgres.url, "--root", tmp_path, *BEATS)
    paused = Worker("worker", "paused", *common)
    folder = tmp_path / "paused" / "trials" / "00000"

    def reported() -> int:
        return len(trials("paused", tmp_path, postgres.url)[0].intermediate_values)

    try:
        for _ in range(3):   # paused mid-epoch: its last epoch written and reported
            wait_for(lambda: 2 <= epochs_logged(folder) == reported() <= EPOCHS - 4,
                     timeout=120, what="the first trial partway", process=paused.process)
            os.killpg(paused.process.pid, signal.SIGSTOP)
            logged = epochs_logged(folder)
            if logged == reported():
                break
            os.killpg(paused.process.pid, signal.SIGCONT)
        other = Worker("worker", "paused", *common)
        assert other.finish() == 0, other.stderr
        os.killpg(paused.process.pid, signal.SIGCONT)
        assert paused.finish() == 0, paused.stderr
    finally:
        if paused.process.poll() is None:
            os.killpg(paused.process.pid, signal.SIGKILL)
    assert paused.said("trial 0 was judged lost while this worker was paused") == 1, \
        paused.stderr
    assert "Traceback" not in paused.stderr
    assert epochs_logged(folder) == logged            # nothing written after it was continued
    first, retry = trials("paused", tmp_path, postgres.url)
    assert first.state == TrialState.FAIL and attrs.reason(first) == "lost"
    assert retry.state == TrialState.COMPLETE and attrs.retry_of(retry) == 0
    assert attrs.resumed_at(retry) >= logged - 1      # resumed from what the paused one left
