"""Ctrl+C (SIGINT) and preemption (SIGTERM), turned into one exception at a safe moment.

A signal must never leave a trial RUNNING nor a storage update half done. While
`stopping_on_signals()` is active, the first SIGINT or SIGTERM is recorded; it is raised as
`Stopped` at once inside `interruptible()` (a trial training, an idle wait), and otherwise at the
next `check()` (also between a storage call's retries, so that a sweep waiting for its storage
stops at once), so that claiming and finishing trials between them is never cut in half. Further
signals are ignored while the first is being handled (a terminal's Ctrl+C reaches every worker
of the process group, and the parent forwards it too). A handler that was installed before ours
(a cluster agent's, W&B's) still runs.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Stopped(BaseException):
    """A BaseException, like KeyboardInterrupt: `except Exception` in training code must not
    swallow it. The process exits with 128 + the signal's number (130, 143)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        self.reason = "preempted" if signum == signal.SIGTERM else "interrupted"
        super().__init__(f"{self.reason} by {signal.Signals(signum).name}")


class _State:
    received: int | None = None
    interruptible: bool = False


_state = _State()


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Install the handlers for the duration (a no-op outside the main thread, where Python
    cannot install handlers: there the default behaviour stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from torchsweep.sweeps.storage import resilient   # imports Optuna: not for `sweep --help`

    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in HANDLED}

    def handle(signum: int, frame) -> None:
        if _state.received is not None:
            return
        _state.received = signum
        earlier = previous[signum]
        if callable(earlier) and earlier is not signal.default_int_handler:
            earlier(signum, frame)
        if _state.interruptible:
            raise Stopped(signum)

    for signum in HANDLED:
        signal.signal(signum, handle)
    _state.received, _state.interruptible = None, False
    resilient.between_attempts.append(check)
    try:
        yield
    finally:
        resilient.between_attempts.remove(check)
        for number, handler in previous.items():
            signal.signal(number, handler)
        _state.received, _state.interruptible = None, False


@contextmanager
def interruptible() -> Iterator[None]:
    """Code that a signal may stop at once: training, waiting."""
    check()
    _state.interruptible = True
    try:
        yield
    finally:
        _state.interruptible = False


@contextmanager
def shielded() -> Iterator[None]:
    """Inside `interruptible()`, a step that must finish whole (an upload and the attribute
    that points at it): a signal arriving during it is raised as soon as it is done."""
    was = _state.interruptible
    _state.interruptible = False
    try:
        yield
    finally:
        _state.interruptible = was
    if was:
        check()


def check() -> None:
    """Raise Stopped if a signal arrived since the handlers were installed."""
    if _state.received is not None:
        raise Stopped(_state.received)


def received() -> int | None:
    return _state.received
