"""How a worker carries on while its storage is unreachable (see `storage.resilient`).

Training goes on: a value reported while the storage is away is skipped (the pruner decides at
the next one), where waiting would stall the trial. Judging other workers' heartbeats waits
MISSED_BEATS beats after an outage this worker saw: their beats could not be recorded either,
and a trial whose worker is alive must not be failed as lost. A trial given back because the
storage was lost is tried once, without waiting: if the storage is still away, the trial stays
RUNNING and the next worker judges it lost and retries it.
"""
from __future__ import annotations

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from torchsweep.sweeps.engine import _optuna
from torchsweep.sweeps.engine.heartbeat import MISSED_BEATS, TrialTakenOver
from torchsweep.sweeps.storage.resilient import Unreachable, back_for, without_waiting


def report(trial: optuna.Trial, value: float, step: int) -> bool:
    """Report `value` at `step`; whether the pruner stops the trial (False, and nothing
    reported, while the storage is unreachable). TrialTakenOver when another worker finished
    the trial meanwhile (judged lost while this one was paused or cut off)."""
    try:
        with without_waiting():
            trial.report(value, step)
            return trial.should_prune()
    except Unreachable:
        return False
    except UpdateFinishedTrialError:
        raise TrialTakenOver(trial.number) from None


def judging_waits(study: optuna.Study, interval: float) -> bool:
    """Whether heartbeats must not be judged yet: the storage was away a moment ago."""
    return back_for(_optuna.storage(study)) < MISSED_BEATS * interval
