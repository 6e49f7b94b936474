"""The study's queue: planned trials wait in the storage, workers claim them one at a time.

`sweep run` and `sweep create` plan the trials a run asked for as WAITING trials; every worker,
local or on another machine, only ever claims a waiting trial and never creates one. Claiming
is one atomic storage update (WAITING -> RUNNING succeeds for one worker only), so any number
of workers run exactly the planned count, `run_cap` holds across all of them, and trials an
interrupted run did not start are still queued for the next one. Retries of lost or
interrupted trials are queued the same way and claimed first.

Optuna's public Study API has no "claim a queued trial or nothing" (`ask` creates a new trial
when the queue is empty), so claiming goes through the storage, as `Study.ask` does it
(`_optuna.claim`).
"""
from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna
from torchsweep.sweeps.engine.run_options import DEFAULT_TRIALS
from torchsweep.sweeps.study import StudySpec


def counted(trials: list[FrozenTrial]) -> int:
    """Trials that count against --trials and run_cap: all but retries (a retry continues a
    trial that was counted already)."""
    return sum(not attrs.is_retry(t) for t in trials)


def waiting(trials: list[FrozenTrial]) -> int:
    """Queued trials not started yet: planned ones, and retries of stopped or lost ones."""
    return sum(t.state == TrialState.WAITING for t in trials)


def wanted(study: optuna.Study, spec: StudySpec, asked: int | None, requeued: bool,
           grid: bool, *, by_workers: bool = False) -> int:
    """How many trials to queue: `asked` (--trials), else none when an interrupted run left
    some or failed ones were `requeued`, or when the workers queue them (`by_workers`: one at
    a time while a --budget allows), else the study's; within its run_cap and what is left of
    its grid."""
    trials = study.get_trials(deepcopy=False)
    existing = counted(trials)
    if asked is not None:
        count = asked
    elif waiting(trials) or requeued:
        # Finish what an interrupted run left (its unstarted trials, or only the retry of the
        # trial it stopped), or what was requeued: add none.
        count = 0
    elif by_workers:
        count = 0
    else:
        count = spec.trials or (spec.space.grid_size() if grid else DEFAULT_TRIALS)
    if spec.run_cap is not None:
        count = min(count, max(spec.run_cap - existing, 0))
    if grid:
        # A grid runs each point once; continuing a study runs only the points left.
        count = min(count, max(spec.space.grid_size() - existing, 0))
    return count


def plan(study: optuna.Study, count: int) -> None:
    """Queue `count` trials; the sampler chooses their parameters when a worker claims them."""
    for _ in range(count):
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))


def claim(study: optuna.Study) -> optuna.Trial | None:
    """The next queued trial, now RUNNING and this worker's; None when the queue is empty."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for frozen in sorted(waiting, key=lambda t: (not attrs.is_retry(t), t.number)):
        claimed = _optuna.claim(study, frozen)
        if claimed is not None:
            return claimed
    return None
