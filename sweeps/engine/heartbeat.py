"""Heartbeats: how a worker shows that the trial it runs is alive, on every storage.

Optuna's own heartbeat exists for RDB storages only; the embedded journal file and Redis have
none. Ours works the same everywhere: while a trial runs, a background thread stamps its system
attribute `sweep:heartbeat` (`attrs.HEARTBEAT`) with the wall-clock time every `interval`
seconds, and records the interval, so that whoever judges the trial uses the interval its
worker was given. A RUNNING
trial is stale (its worker died: SIGKILL, a lost machine) when its last stamp is older than
MISSED_BEATS intervals or, with no stamp at all (killed between being claimed and its first
beat), when it started that long ago. Machines sharing a study need roughly synchronised clocks.
"""
from __future__ import annotations

import threading
import time
import warnings

import optuna
from optuna.trial import FrozenTrial

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna

DEFAULT_INTERVAL = 10.0      # seconds
# A worker blocked for a while (the journal file's lock left by a killed process is broken
# after 30 s) must not look dead: six missed beats is a minute at the default interval.
MISSED_BEATS = 6


class HeartbeatWarning(UserWarning):
    """A beat was not recorded (a storage hiccup); the next one tries again."""


class Heartbeat:
    """Context manager: stamps the trial at entry, then every `interval` seconds until exit."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, interval: float):
        self._study, self._trial, self._interval = study, trial, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_stopped, daemon=True,
                                        name=f"heartbeat-{trial.number}")

    def __enter__(self) -> "Heartbeat":
        _optuna.set_system_attr(self._study, self._trial, attrs.HEARTBEAT_INTERVAL, self._interval)
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        # Not waiting for a beat stuck on a busy storage: the trial is finished either way.
        self._thread.join(timeout=self._interval)

    def _beat(self) -> None:
        _optuna.set_system_attr(self._study, self._trial, attrs.HEARTBEAT, time.time())

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._beat()
            except Exception as error:  # a storage hiccup: the next beat tries again
                if self._stopped.is_set():
                    return
                warnings.warn(f"heartbeat of trial {self._trial.number} not recorded: {error}",
                              HeartbeatWarning, stacklevel=1)


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
