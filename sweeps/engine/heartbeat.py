"""Heartbeats: how a worker shows that the trial it runs is alive, on every storage.

Optuna's own heartbeat exists for RDB storages only; the embedded journal file and Redis have
none. Ours works the same everywhere: while a trial runs, a background thread stamps its system
attribute `sweep:heartbeat` with the wall-clock time every `interval` seconds, and records the
interval, so that whoever judges the trial uses the interval its worker was given. A RUNNING
trial is stale (its worker died: SIGKILL, a lost machine) when its last stamp is older than
MISSED_BEATS intervals or, with no stamp at all (killed between being claimed and its first
beat), when it started that long ago. Machines sharing a study need roughly synchronised clocks.
"""
from __future__ import annotations

import threading
import time
import warnings

from optuna.trial import FrozenTrial

BEAT_ATTR = "sweep:heartbeat"
INTERVAL_ATTR = "sweep:heartbeat_interval"
DEFAULT_INTERVAL = 10.0      # seconds
# A worker blocked for a while (the journal file's lock left by a killed process is broken
# after 30 s) must not look dead: six missed beats is a minute at the default interval.
MISSED_BEATS = 6


class Heartbeat:
    """Context manager: stamps the trial at entry, then every `interval` seconds until exit."""

    def __init__(self, storage, trial_id: int, interval: float):
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_stopped, daemon=True,
                                        name=f"heartbeat-{trial_id}")

    def __enter__(self) -> "Heartbeat":
        self._storage.set_trial_system_attr(self._trial_id, INTERVAL_ATTR, self._interval)
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        # Not waiting for a beat stuck on a busy storage: the trial is finished either way.
        self._thread.join(timeout=self._interval)

    def _beat(self) -> None:
        self._storage.set_trial_system_attr(self._trial_id, BEAT_ATTR, time.time())

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._beat()
            except Exception as error:  # a storage hiccup: the next beat tries again
                if self._stopped.is_set():
                    return
                warnings.warn(f"heartbeat of trial id {self._trial_id} not recorded: {error}",
                              stacklevel=1)


def is_stale(trial: FrozenTrial, *, now: float, interval: float) -> bool:
    """Whether a RUNNING trial's worker is gone; `interval` is for trials that never beat."""
    beat = trial.system_attrs.get(BEAT_ATTR)
    if beat is not None:
        return now - beat > MISSED_BEATS * trial.system_attrs.get(INTERVAL_ATTR, interval)
    # datetime_start is naive local time (Optuna converts what it stored to this machine's zone).
    started = trial.datetime_start.timestamp() if trial.datetime_start else now
    return now - started > MISSED_BEATS * interval
