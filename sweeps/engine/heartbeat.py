"""Heartbeats: how a worker shows that the trial it runs is alive, on every storage.

Optuna's own heartbeat exists for RDB storages only; the embedded journal file and Redis have
none. Ours works the same everywhere: while a trial runs, a background thread stamps its system
attribute `sweep:heartbeat` (`attrs.HEARTBEAT`) with the wall-clock time every `interval`
seconds, and records the interval, so that whoever judges the trial uses the interval its
worker was given. A RUNNING
trial is stale (its worker died: SIGKILL, a lost machine) when its last stamp is older than
MISSED_BEATS intervals or, with no stamp at all (killed between being claimed and its first
beat), when it started that long ago. Machines sharing a study need roughly synchronised clocks.

A worker that was paused (SIGSTOP, a frozen VM) may wake up to find its trial judged lost and
retried elsewhere: it must not go on with it. A beat refused because the trial is finished
marks it taken over, and before each epoch is written (`hold`) a worker whose beats have not
been recorded for a while asks the storage whether the trial is still its own.
"""
from __future__ import annotations

import threading
import time
import warnings

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna
from torchsweep.sweeps.errors import StorageError
from torchsweep.sweeps.storage.resilient import Unreachable, without_waiting

# A worker blocked for a while (the journal file's lock left by a killed process is broken
# after 30 s) must not look dead: six missed beats is a minute at the default interval
# (--heartbeat, engine/run_options.py).
MISSED_BEATS = 6
# Beats not recorded for this many intervals: before writing, ask whether the trial is ours.
UNSURE_AFTER = 2
_beating: dict[int, "Heartbeat"] = {}     # id(optuna.Trial) -> its heartbeat, in this process


class TrialTakenOver(Exception):
    """This worker's trial was judged lost (it was paused or cut off) and is retried elsewhere."""

    def __init__(self, number: int):
        super().__init__(f"trial {number} was judged lost while this worker was paused or cut "
                         f"off, and is retried by another worker; this worker leaves it")


class HeartbeatWarning(UserWarning):
    """A beat was not recorded (a storage hiccup); the next one tries again."""


class Heartbeat:
    """Context manager: stamps the trial at entry, then every `interval` seconds until exit."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, interval: float):
        self._study, self._trial, self._interval = study, trial, interval
        self._stopped, self._taken = threading.Event(), threading.Event()
        self._recorded = time.monotonic()     # when a beat was last recorded
        self._thread = threading.Thread(target=self._beat_until_stopped, daemon=True,
                                        name=f"heartbeat-{trial.number}")

    def __enter__(self) -> "Heartbeat":
        _optuna.set_system_attr(self._study, self._trial, attrs.HEARTBEAT_INTERVAL, self._interval)
        self._beat()
        self._thread.start()
        _beating[id(self._trial)] = self
        return self

    def __exit__(self, *exc) -> None:
        _beating.pop(id(self._trial), None)
        self._stopped.set()
        # Not waiting for a beat stuck on a busy storage: the trial is finished either way.
        self._thread.join(timeout=self._interval)

    def hold(self) -> None:
        """Raise TrialTakenOver if the trial is no longer this worker's. Asks the storage (once,
        not waiting) only when beats have not been recorded for a while: a paused process, or
        one cut off from a storage that others still reach."""
        if not self._taken.is_set() and \
                time.monotonic() - self._recorded > UNSURE_AFTER * self._interval:
            try:
                with without_waiting():
                    self._beat()
            except Unreachable:
                pass        # nobody can judge it while the storage is unreachable from here
        if self._taken.is_set():
            raise TrialTakenOver(self._trial.number)

    def _beat(self) -> None:
        try:
            _optuna.set_system_attr(self._study, self._trial, attrs.HEARTBEAT, time.time())
        except UpdateFinishedTrialError:   # another worker judged it lost
            self._taken.set()
            return
        self._recorded = time.monotonic()

    def _beat_until_stopped(self) -> None:
        # Each beat tries once: an unreachable storage is tried again at the next beat, so that
        # beats resume within an interval of its return (judges wait MISSED_BEATS for them).
        while not self._stopped.wait(self._interval) and not self._taken.is_set():
            try:
                with without_waiting():
                    self._beat()
            except Unreachable:
                continue
            except StorageError:   # refused: the worker's own next call says so
                return
            except Exception as error:  # a storage hiccup: the next beat tries again
                if self._stopped.is_set():
                    return
                warnings.warn(f"heartbeat of trial {self._trial.number} not recorded: {error}",
                              HeartbeatWarning, stacklevel=1)


def hold(trial: optuna.Trial) -> None:
    """`Heartbeat.hold` for the trial, if it is beating in this process."""
    beating = _beating.get(id(trial))
    if beating is not None:
        beating.hold()


def is_stale(trial: FrozenTrial, *, now: float, interval: float) -> bool:
    """Whether a RUNNING trial's worker is gone; `interval` is for trials that never beat."""
    beat = trial.system_attrs.get(attrs.HEARTBEAT)
    if beat is not None:
        beats = trial.system_attrs.get(attrs.HEARTBEAT_INTERVAL, interval)
        return now - beat > MISSED_BEATS * beats
    # datetime_start is naive local time (Optuna converts what it stored to this machine's zone).
    started = trial.datetime_start.timestamp() if trial.datetime_start else now
    return now - started > MISSED_BEATS * interval


def is_overdue(failed: FrozenTrial, *, now: float, interval: float) -> bool:
    """Whether a trial failed with its retry due has waited MISSED_BEATS intervals for it:
    the worker that failed it would have queued the retry long since, had it lived."""
    beats = failed.system_attrs.get(attrs.HEARTBEAT_INTERVAL, interval)
    ended = failed.datetime_complete.timestamp() if failed.datetime_complete else now
    return now - ended > MISSED_BEATS * beats
