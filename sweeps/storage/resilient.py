"""A storage that rides out an outage: the database restarts, fails over, the network blips.

Every call the engine makes (claiming, telling, reporting, heartbeats, attributes, the queue)
goes through `ResilientStorage`, which retries a call that failed on a lost connection
(`faults.is_transient`) with capped exponential backoff and jitter (tenacity), for up to the
grace period (`--storage-grace`), counted from the moment the storage stopped answering. It
says once, in one line, that the storage is unreachable and that it is retrying, and once that
it is back. Past the grace it raises `StorageLost`: one line, exit code 4.

A write whose connection dropped may have been committed before the drop: it is checked,
never blindly redone.
- A trial's creation carries a token (`attrs.CREATED_AS`); a retry first looks for the trial
  that holds it.
- A state change (a claim, a tell) reads the trial back first: still as it was, the write is
  made again; already as asked, it landed. A claim that finds the trial RUNNING cannot tell its
  own claim from another worker's, so it does not take the trial (Optuna's answer to a claim
  that lost the race): if the claim was ours, nobody beats for the trial, which is failed as
  lost and retried like a dead worker's. A FAIL that finds the trial failed answers False for
  the same reason: whoever failed it, its retry is queued once (`retries.missing`).
Every other write sets a value to what it already is when redone, and reads are safe.

The outage's clock is shared by every storage of one URL in a process (the heartbeat thread's,
the worker loop's, the study run's), so the grace is counted once.
"""
from __future__ import annotations

import abc
import copy
import logging
import math
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

import tenacity
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps import attrs
from torchsweep.sweeps.errors import StorageError, StorageLost
from torchsweep.sweeps.storage import DEFAULT_GRACE, faults

FIRST_WAIT = 0.5          # seconds before the first retry; doubles up to LONGEST_WAIT
LONGEST_WAIT = 8.0
JITTER = 0.5              # up to this many seconds more, so that workers do not retry in step
SETUP_ATTEMPTS = 5        # opens of a new database whose tables other launches make meanwhile
_BACKOFF = tenacity.wait_exponential_jitter(multiplier=FIRST_WAIT, max=LONGEST_WAIT, jitter=JITTER)
_logger = logging.getLogger(__name__)


class Unreachable(StorageError):
    """Inside `without_waiting()`: the storage did not answer, and the caller chose not to wait
    (a report skipped while training goes on)."""


@dataclass
class _Contact:
    """One process's view of one storage: since when it has not answered, and when it came back."""
    shown: str
    down_since: float | None = None         # time.monotonic() of the first failed call
    back_at: float = -math.inf              # time.monotonic() it answered again
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failing_for(self, error: BaseException, grace: float, looking: bool) -> float:
        """Seconds the storage has not answered; the first failure says so once."""
        with self.lock:
            if self.down_since is None:
                self.down_since = time.monotonic()
                _logger.warning("storage %s is unreachable (%s); retrying for up to %s s%s",
                                self.shown, faults.first_line(error), f"{grace:g}",
                                "" if looking else " (--storage-grace)")
            return time.monotonic() - self.down_since

    def answered(self) -> None:
        if self.down_since is None:   # the usual case, without taking the lock
            return
        with self.lock:
            if self.down_since is not None:
                self.back_at = time.monotonic()
                _logger.warning("storage %s is back after %.1f s", self.shown,
                                self.back_at - self.down_since)
                self.down_since = None


_contacts: dict[str, _Contact] = {}
_contacts_lock = threading.Lock()
_waiting = threading.local()
# Called between attempts on the main thread: the engine makes Ctrl+C and SIGTERM stop a wait.
between_attempts: list[Callable[[], None]] = []


def _contact(shown: str) -> _Contact:
    with _contacts_lock:
        return _contacts.setdefault(shown, _Contact(shown))


@contextmanager
def without_waiting() -> Iterator[None]:
    """Calls on this thread try once: a lost connection raises `Unreachable` at once."""
    _waiting.off = getattr(_waiting, "off", 0) + 1
    try:
        yield
    finally:
        _waiting.off -= 1


def back_for(storage: BaseStorage) -> float:
    """Seconds since `storage` answered again after an outage this process saw (infinite when
    it saw none); 0 during one. A judge of other workers' heartbeats waits a few beats after
    an outage: theirs could not be recorded either."""
    if not isinstance(storage, ResilientStorage):
        return math.inf
    contact = storage.contact
    if contact.down_since is not None:
        return 0.0
    return time.monotonic() - contact.back_at


def _sleep(seconds: float) -> None:
    time.sleep(seconds)
    if threading.current_thread() is threading.main_thread():
        for check in between_attempts:
            check()


def _passed_through(*names: str):
    """Class decorator: each of `names` calls the inner storage's method of that name, retried."""
    def decorate(cls):
        for name in names:
            def method(self, *args, _name=name, **kwargs):
                return self._retried(getattr(self.inner, _name), *args, **kwargs)
            method.__name__ = method.__qualname__ = name
            setattr(cls, name, method)
        return abc.update_abstractmethods(cls)
    return decorate


@_passed_through(
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_all_studies", "set_trial_param",
    "get_trial_id_from_study_id_trial_number", "set_trial_intermediate_value",
    "set_trial_user_attr", "set_trial_system_attr", "get_trial", "get_all_trials",
    "get_best_trial", "get_n_trials")
class ResilientStorage(BaseStorage):
    def __init__(self, inner: BaseStorage, shown: str, grace: float = DEFAULT_GRACE,
                 looking: bool = False):
        # looking: a command that only reads the study (show, best, report), with a short
        # grace of its own and no trials to give back.
        self.inner, self.shown, self.grace, self.looking = inner, shown, grace, looking
        self.contact = _contact(shown)

    def _retried(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if getattr(_waiting, "off", 0):
            return self._once(call, *args, **kwargs)
        try:
            result = self._retrying()(call, *args, **kwargs)
        except Exception as error:
            self._raise_one_line(error)
        self.contact.answered()
        return result

    def _once(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = call(*args, **kwargs)
        except Exception as error:
            if faults.is_transient(error):
                self.contact.failing_for(error, self.grace, self.looking)
                raise Unreachable(f"storage {self.shown} is unreachable "
                                  f"({faults.first_line(error)})") from None
            self._raise_one_line(error)
        self.contact.answered()
        return result

    def _retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(retry=tenacity.retry_if_exception(faults.is_transient),
                                 stop=self._gives_up, wait=self._wait, sleep=_sleep,
                                 reraise=True)

    def _gives_up(self, state: tenacity.RetryCallState) -> bool:
        return self.contact.failing_for(state.outcome.exception(), self.grace,
                                         self.looking) >= self.grace

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = _BACKOFF(state)
        left = self.grace - (time.monotonic() - (self.contact.down_since or time.monotonic()))
        return max(0.0, min(backoff, left))

    def _raise_one_line(self, error: Exception) -> None:
        """The signal that broke the call; past the grace, `StorageLost`; a driver's refusal,
        `StorageError`; Optuna's own answers (a finished trial, a missing study) as they are."""
        stop = faults.interruption(error)
        if stop is not None:
            raise stop from None
        if faults.is_transient(error):
            waited = time.monotonic() - (self.contact.down_since or time.monotonic())
            then = ("try again once it answers (`sweep doctor` checks it)" if self.looking else
                    f"gave up after --storage-grace {self.grace:g}; the trials it ran are "
                    f"retried when the same command runs again")
            raise StorageLost(f"storage {self.shown} unreachable for {waited:.0f} s "
                              f"({faults.first_line(error)}); {then}") from None
        if faults.is_driver_error(error):
            raise StorageError(f"storage {self.shown}: {faults.first_line(error)}") from None
        raise error

    # --- writes that may have landed before the connection dropped ---

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        token = uuid.uuid4().hex
        tagged = _tagged(template_trial, token)
        tried = False

        def create() -> int:
            nonlocal tried
            if tried:
                landed = self._created_as(study_id, token)
                if landed is not None:
                    return landed
            tried = True
            return self.inner.create_new_trial(study_id, tagged)

        return self._retried(create)

    def _created_as(self, study_id: int, token: str) -> int | None:
        for trial in self.inner.get_all_trials(study_id, deepcopy=False):
            if trial.system_attrs.get(attrs.CREATED_AS) == token:
                return self.inner.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        return None

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        tried = False

        def change() -> bool:
            nonlocal tried
            if tried:
                landed = _landed(self.inner.get_trial(trial_id), state)
                if landed is not None:
                    return landed
            tried = True
            return self.inner.set_trial_state_values(trial_id, state, values)

        return self._retried(change)


def _tagged(template: FrozenTrial | None, token: str) -> FrozenTrial:
    """The trial to create, carrying `token`. Without a template Optuna creates a RUNNING
    trial started now (`Study.ask`): the same, as a template."""
    if template is None:
        template = FrozenTrial(number=-1, state=TrialState.RUNNING, value=None,
                               datetime_start=datetime.now(), datetime_complete=None, params={},
                               distributions={}, user_attrs={}, system_attrs={},
                               intermediate_values={}, trial_id=-1)
    tagged = copy.copy(template)
    tagged.system_attrs = {**template.system_attrs, attrs.CREATED_AS: token}
    return tagged


def _landed(now: FrozenTrial, asked: TrialState) -> bool | None:
    """What a state change whose first attempt may have landed returns, judged from the trial
    as it is now; None: it did not land, make it again."""
    if asked == TrialState.RUNNING:
        if now.state == TrialState.WAITING:
            return None
        if now.state == TrialState.RUNNING:
            return False        # ours or another worker's: not taken (see the module's doc)
    elif not asked.is_finished() or not now.state.is_finished():
        return None
    elif now.state == asked:
        return asked != TrialState.FAIL
    raise UpdateFinishedTrialError(f"trial {now.number} has already finished "
                                   f"({now.state.name}) and cannot be updated")


def opened(open_inner: Callable[[], BaseStorage], shown: str, grace: float,
           looking: bool = False) -> ResilientStorage:
    """The storage `open_inner` opens, opened as patiently as it is then used: a worker that
    starts while its database restarts waits for it. Other errors are the caller's to word."""
    storage = ResilientStorage(None, shown, grace, looking)
    # Launches that open a new database at once all make Optuna's tables; the losers open again.
    setup_races = tenacity.Retrying(retry=tenacity.retry_if_exception(faults.is_setup_race),
                                    stop=tenacity.stop_after_attempt(SETUP_ATTEMPTS),
                                    wait=tenacity.wait_random(0, FIRST_WAIT), reraise=True)
    try:
        storage.inner = storage._retrying()(setup_races, open_inner)
    except Exception as error:
        if faults.is_transient(error):
            storage._raise_one_line(error)
        raise
    storage.contact.answered()
    return storage
