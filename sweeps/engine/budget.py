"""`sweep run --budget`: the compute one run may spend, in epochs (`200e`) or device-hours
(`2h`).

Epochs are the epochs the run's trials trained, summed over trials: a pruned trial counts the
part it trained (0.5 for one stopped half-way through its first epoch). Device-hours are the
run's trials' wall times summed over workers: two workers busy for an hour spend 2h.

Before it claims a trial, a worker adds up what the run's finished trials spent and what its
running trials may still spend, and stops when the next trial would take that past the
budget. In epochs a running trial, and the next, are counted at their full epochs, so a run
never passes an epochs budget (two workers deciding at the same instant aside). In hours the
next trial is expected to take as long as the run's completed trials took on average, a
running one at least that: the first trial always starts. With --budget and no --trials the
run queues trials one at a time for as long as the budget allows; with --trials it runs at
most those. Optuna-free and torch-free: the command line parses it.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from torchsweep.sweeps import attrs
from torchsweep.sweeps.errors import StudyError

FrozenTrial = Any   # optuna's; states are compared by name, to keep Optuna out of the CLI

EPOCHS, HOURS = "epochs", "device-hours"
_SUFFIXES = {"e": EPOCHS, "h": HOURS}
_FORMAT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([eh])\s*$")


class BudgetError(StudyError, ValueError):
    """A budget that cannot be read, or cannot be counted for this study."""


@dataclass(frozen=True)
class Budget:
    limit: float
    unit: str                           # EPOCHS or HOURS
    since: float = 0.0                  # time.time() the run started: its trials start later
    trial_epochs: float | None = None   # a whole trial's epochs (an EPOCHS budget needs it)
    queues: bool = False                # the run queues trials as the budget allows (no --trials)

    @classmethod
    def parse(cls, text: str) -> "Budget":
        match = _FORMAT.match(text)
        if not match or float(match.group(1)) <= 0:
            raise BudgetError(f"{text!r} is not a budget; give epochs as e.g. 200e or "
                              f"device-hours as e.g. 2h")
        return cls(float(match.group(1)), _SUFFIXES[match.group(2)])

    def for_run(self, since: float, trial_epochs: float | None, queues: bool) -> "Budget":
        if self.unit == EPOCHS and trial_epochs is None:
            raise BudgetError(f"--budget {self.limit:g}e: a budget in epochs needs every "
                              f"trial's epochs fixed; give device-hours instead (e.g. 2h)")
        return dataclasses.replace(self, since=since, trial_epochs=trial_epochs, queues=queues)

    def spent(self, trials: Iterable[FrozenTrial]) -> float:
        """What the run's finished trials spent."""
        return sum(self._cost(t) for t in self._ours(trials) if t.state.is_finished())

    def allows_next(self, trials: Iterable[FrozenTrial], now: float) -> bool:
        ours = list(self._ours(trials))
        expected = self._expected(ours)
        committed = sum(self._cost(t) if t.state.is_finished() else
                        self._reserved(t, expected, now)
                        for t in ours)
        return committed + expected <= self.limit

    def report(self, trials: Iterable[FrozenTrial]) -> dict[str, Any]:
        # Four significant digits, not decimals: a short run's device-hours would round to 0.
        return {"limit": self.limit, "unit": self.unit, "spent": float(f"{self.spent(trials):.4g}")}

    def _ours(self, trials: Iterable[FrozenTrial]) -> Iterable[FrozenTrial]:
        since = datetime.fromtimestamp(self.since)
        return (t for t in trials if t.datetime_start is not None and t.datetime_start >= since)

    def _cost(self, trial: FrozenTrial) -> float:
        if self.unit == EPOCHS:
            return attrs.summary(trial).epochs_trained or 0.0
        end = trial.datetime_complete or trial.datetime_start
        return (end - trial.datetime_start).total_seconds() / 3600

    def _expected(self, ours: list[FrozenTrial]) -> float:
        if self.unit == EPOCHS:
            return float(self.trial_epochs or 0.0)
        done = [self._cost(t) for t in ours if t.state.name == "COMPLETE"]
        return sum(done) / len(done) if done else 0.0

    def _reserved(self, trial: FrozenTrial, expected: float, now: float) -> float:
        if self.unit == EPOCHS:
            return expected
        return max(expected, (now - trial.datetime_start.timestamp()) / 3600)
