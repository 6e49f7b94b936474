"""One worker's loop: claim a queued trial, train it under a heartbeat, tell Optuna, repeat.

Before every claim the worker fails the trials whose worker died (stale heartbeat, see
`heartbeat`) with reason `lost` and queues their retries. When the queue is empty but trials
are still running elsewhere, it waits for them, since one may die and need a retry; it leaves
when nothing is queued or running, when a callback stops the study, or at the deadline.

This replaces `Study.optimize`, whose `ask` creates a trial whenever the queue is empty: that
would break the exact trial count that several workers must share.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna, failures, outage, retries, signals, trial_queue
from torchsweep.sweeps.engine.budget import Budget
from torchsweep.sweeps.engine.heartbeat import Heartbeat, TrialTakenOver, is_overdue, is_stale
from torchsweep.sweeps.errors import StorageError, StorageLost
from torchsweep.sweeps.storage.resilient import without_waiting
from torchsweep.trainer.errors import cannot_write

# Told of each finished trial; what it returns is not read.
Callback = Callable[[optuna.Study, FrozenTrial], object]
# A trial's value, or its values (one per metric of a multi-objective study).
TrialObjective = Callable[[optuna.Trial], "float | tuple[float, ...]"]
# Seconds between looks at the queue while other workers' trials run. Short: when the last
# trial ends, `sweep run --workers N` waits for every idle worker's next look before it exits.
IDLE_POLL = 0.2
_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    heartbeat: float                # seconds between a running trial's heartbeats
    max_retries: int                # retries of a trial whose worker died or was stopped
    deadline: float | None = None   # time.time() after which no trial starts
    budget: Budget | None = None    # no trial starts that would take the run past it


def work(study: optuna.Study, objective: TrialObjective,
         settings: LoopSettings, callbacks: Sequence[Callback] = ()) -> int:
    """Run queued trials until none is left; returns how many this worker finished."""
    ran = 0
    with _optuna.optimize_loop(study):
        while not _optuna.stop_requested(study) and not _past(settings.deadline):
            signals.check()
            reconcile(study, settings)
            budget = settings.budget
            if budget and not budget.allows_next(study.get_trials(deepcopy=False), time.time()):
                break
            trial = trial_queue.claim(study)
            if trial is None and budget and budget.queues:
                trial_queue.plan(study, 1)
                continue
            if trial is None:
                trials = study.get_trials(deepcopy=False)
                # Wait while trials run elsewhere, or a retry is due but not queued yet.
                if not any(t.state == TrialState.RUNNING for t in trials) and \
                        not retries.missing(trials):
                    break
                with signals.interruptible():
                    time.sleep(min(IDLE_POLL, settings.heartbeat))
                continue
            finished = run_trial(study, trial, objective, settings)
            if finished is None:   # taken over by another worker
                continue
            ran += 1
            for callback in callbacks:
                callback(study, finished)
    return ran


def run_trial(study: optuna.Study, trial: optuna.Trial, objective: TrialObjective,
              settings: LoopSettings) -> FrozenTrial | None:
    """The trial as it finished; None when another worker took it over (this worker was
    paused or cut off long enough to be judged lost), which leaves it alone."""
    with Heartbeat(study, trial, settings.heartbeat):
        try:
            # state None: Optuna judges the value (one that is not a number fails the trial).
            value, state = None, None
            try:
                with signals.interruptible():
                    value = objective(trial)
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except (TrialTakenOver, UpdateFinishedTrialError):  # a write refused: finished
                _logger.warning("%s", TrialTakenOver(trial.number))
                return None
            except Exception as error:
                if cannot_write(error) or isinstance(error, StorageError):
                    raise   # the sweep stops; the trial is given back below, to resume later
                state = TrialState.FAIL
                _logger.warning("trial %d failed: %s: %s", trial.number, type(error).__name__,
                                error)
            # skip_if_finished: another worker may have judged this trial lost (its heartbeat
            # stalled) and failed it already; its retry runs elsewhere.
            finished = study.tell(trial, value, state=state, skip_if_finished=True)
        except BaseException as error:  # Ctrl+C, SIGTERM, a storage error: never left RUNNING
            _give_back(study, trial, error, settings.max_retries)
            raise
    if finished.state != TrialState.COMPLETE:
        failures.free_memory()
    return finished


def reconcile(study: optuna.Study, settings: LoopSettings) -> list[int]:
    """Fail the trials whose worker died and queue their retries, and queue the retries that a
    worker killed in between left due; returns the numbers of the trials retried."""
    now, lost = time.time(), list[int]()
    if outage.judging_waits(study, settings.heartbeat):
        return lost
    trials = study.get_trials(deepcopy=False)
    for trial in (t for t in trials if t.state == TrialState.RUNNING):
        due = attrs.attempt(trial) <= settings.max_retries
        if is_stale(trial, now=now, interval=settings.heartbeat) and \
                _optuna.fail_if_running(study, trial, {attrs.REASON: "lost", attrs.RETRY_DUE: due}):
            lost.append(trial.number)
            if due:
                retries.enqueue_retry(study, trial, resume=True)
    for failed in retries.missing(trials):
        if is_overdue(failed, now=now, interval=settings.heartbeat):
            lost.append(failed.number)
            retries.enqueue_retry(study, failed, resume=True)
    return lost


def _give_back(study: optuna.Study, trial: optuna.Trial, error: BaseException,
               max_retries: int) -> None:
    """Fail the trial with the reason `error` gives and queue its retry, unless another worker
    judged it first. A storage lost past the grace is tried once, without waiting (`outage`)."""
    if not isinstance(error, StorageLost):
        _fail_and_retry(study, trial, failures.reason(error), max_retries)
        return
    try:
        with without_waiting():
            _fail_and_retry(study, trial, failures.reason(error), max_retries)
    except StorageError:
        pass


def _fail_and_retry(study: optuna.Study, trial: optuna.Trial, reason: str,
                    max_retries: int) -> None:
    running = _optuna.frozen(trial)
    if running.state != TrialState.RUNNING:
        return
    due = attrs.attempt(running) <= max_retries
    if _optuna.fail_if_running(study, running, attrs.failed_with_retry(reason, due)) \
            and due:
        retries.enqueue_retry(study, _optuna.frozen(trial), resume=True)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.time() >= deadline
