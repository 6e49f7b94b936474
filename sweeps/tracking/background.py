"""Work beside training that must never take a trial down: W&B runs, TensorBoard files.

A `BackgroundRun` receives a trial's per-epoch metrics (`log`) and its end (`finish`). Its first
failure costs one `TrackingWarning`; after that it only tries to finish, so that its files and
threads are released, and training goes on as if it were a null object.
"""
from __future__ import annotations

import warnings
from typing import Any

# States in which a trial's run ends normally: as planned, or stopped on purpose by a person
# (Ctrl+C; the trial resumes in a run of its own). Any other (failed, preempted) is an error.
ENDED_NORMALLY = ("completed", "pruned", "interrupted")


class TrackingWarning(UserWarning):
    """Tracking failed; the trial went on without it."""


class BackgroundRun:
    label = "tracking"          # what failed, in the warning

    _broken = False

    def log(self, metrics: dict[str, float]) -> None:
        if not self._broken:
            self._guard(self._log, metrics)

    def finish(self, state: str, summary: dict[str, Any]) -> None:
        self._guard(self._finish, state, summary)

    def _log(self, metrics: dict[str, float]) -> None:
        raise NotImplementedError

    def _finish(self, state: str, summary: dict[str, Any]) -> None:
        raise NotImplementedError

    def _guard(self, work, *args) -> None:
        try:
            work(*args)
        except Exception as error:
            if not self._broken:
                warnings.warn(f"{self.label} failed ({first_line(error)}); training goes on "
                              "without it", TrackingWarning, stacklevel=4)
            self._broken = True


class Fanout:
    """A trial's runs together: each call goes to every one. With none it does nothing."""

    def __init__(self, runs: list[BackgroundRun]):
        self.runs = runs

    def log(self, metrics: dict[str, float]) -> None:
        for run in self.runs:
            run.log(metrics)

    def finish(self, state: str, summary: dict[str, Any]) -> None:
        for run in self.runs:
            run.finish(state, summary)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
