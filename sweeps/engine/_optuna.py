"""Every use of Optuna's private API in the engine, in one place, guarded by what it does (the
storage layer has one more, the Redis journal's client it replaces: sweeps/storage/__init__.py).

The engine runs its own trial loop (see `trial_loop`): Optuna's public `Study` has no way to
claim a queued trial without creating one, to fail a trial that belongs to a dead worker, or
to let samplers and callbacks call `study.stop()` outside `Study.optimize`. Each of those goes
through the study's storage, as Optuna's own `Study.ask` and `fail_stale_trials` do.

No version string is checked: pyproject.toml admits the Optuna releases CI has run, and
tests/test_optuna_private.py exercises every function here on a real study, so an Optuna that
moves one of these attributes fails there, by name. At run time each private attribute is read
through `_private`, which names the attribute and the Optuna installed when it is missing,
rather than failing with a bare AttributeError somewhere in a sweep.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Container, Iterator, cast

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState


class OptunaChanged(RuntimeError):
    """This Optuna lacks a private attribute the engine reads: a release pyproject.toml does not
    admit, or one that moved it."""


def _private(owner: object, name: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError:
        raise OptunaChanged(
            f"Optuna {optuna.__version__} has no {type(owner).__name__}.{name}, which "
            f"torchsweep's sweeps/engine/_optuna.py reads: install an Optuna that torchsweep's "
            f"pyproject.toml admits") from None


def storage(study: optuna.Study) -> BaseStorage:
    return _private(study, "_storage")


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (FrozenTrial and Trial both carry it privately)."""
    return _private(trial, "_trial_id")


def frozen(trial: optuna.Trial) -> FrozenTrial:
    """A running trial as the storage holds it, system attrs included (which `optuna.Trial`
    no longer shows)."""
    return storage(trial.study).get_trial(trial_id(trial))


def claim(study: optuna.Study, waiting: FrozenTrial) -> optuna.Trial | None:
    """WAITING -> RUNNING in one storage update, which succeeds for one worker only; the trial
    is then this worker's. None when another worker claimed it first."""
    try:
        if storage(study).set_trial_state_values(trial_id(waiting), state=TrialState.RUNNING):
            return optuna.Trial(study, trial_id(waiting))
    except UpdateFinishedTrialError:
        pass
    return None


def fail_if_running(study: optuna.Study, trial: FrozenTrial,
                    user_attrs: dict[str, Any]) -> bool:
    """Fail another worker's RUNNING trial; False when it is no longer running (another worker
    judged it first, or its own worker finished it)."""
    try:
        for key, value in user_attrs.items():
            storage(study).set_trial_user_attr(trial_id(trial), key, value)
        return storage(study).set_trial_state_values(trial_id(trial), state=TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False


def set_system_attr(study: optuna.Study, trial: optuna.Trial, key: str, value: Any) -> None:
    """A system attribute on a running trial (Trial.set_system_attr is deprecated in Optuna)."""
    storage(study).set_trial_system_attr(trial_id(trial), key, value)


def stop_requested(study: optuna.Study) -> bool:
    """Whether a sampler or callback called `study.stop()`."""
    return _private(study, "_stop_flag")


@contextmanager
def optimize_loop(study: optuna.Study) -> Iterator[None]:
    """Samplers (GridSampler) and callbacks call `study.stop()`, which Optuna allows only inside
    `Study.optimize`; our trial loop is the optimize loop here, so it raises the same flags."""
    _private(study, "_stop_flag")
    thread_local = _private(study, "_thread_local")
    study._stop_flag = False
    thread_local.in_optimize_loop = True
    try:
        yield
    finally:
        thread_local.in_optimize_loop = False


class _TrialsWhere:
    """A study's storage that shows only the trials `keep` accepts; everything else (writes
    included) goes to the storage itself."""

    def __init__(self, inner: BaseStorage, keep: Callable[[FrozenTrial], bool]):
        self._inner, self._keep = inner, keep

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
                if self._keep(t)]

    # Storages answer this from all trials; BaseStorage's own answers from get_all_trials above
    # (WilcoxonPruner compares a trial with `study.best_trial`).
    get_best_trial = BaseStorage.get_best_trial

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def study_of(study: optuna.Study, keep: Callable[[FrozenTrial], bool]) -> optuna.Study:
    """The same study, as a pruner sees it, holding only the trials `keep` accepts. Optuna's
    pruners read trials through `study.get_trials`, and Hyperband's bracket studies re-open
    the study from its storage, so the filter sits in the storage to reach both."""
    # A proxy, not a subclass: what it does not filter goes to the storage (`__getattr__`).
    where = cast(BaseStorage, _TrialsWhere(storage(study), keep))
    return optuna.Study(study_name=study.study_name, storage=where,
                        sampler=study.sampler, pruner=study.pruner)
