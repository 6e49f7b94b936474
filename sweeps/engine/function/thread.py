"""A W&B-style function (no argument: it calls `wandb.init()`, reads `wandb.config`, logs with
`wandb.log`, as W&B's quickstart has it) run as a trial, the way W&B's agent runs one.

W&B's agent gives a function its run through the environment (the run id, the sweep-parameter
file that becomes `wandb.config`), resets W&B's process-wide setup, and calls the function on
a thread of its own (in a notebook). So does this, with the environment a program's trial gets
(engine/program/objective.py), and it stands where that trial's process stands: the program
objective follows the run's file and stops it the same way. Stopping it ends its W&B run
marked stopped (summary `state: stopped`, tag `stopped`, exit code 0), as the program's hook
does on SIGTERM (program/_child/sitecustomize.py), then raises `Stopped` inside the function:
a thread cannot be killed, and torch's own loops in C see it when they return.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import traceback
from typing import Any, Callable, Mapping

STOPPED_EXIT = 128 + signal.SIGTERM   # what a program stopped by SIGTERM exits with


class Stopped(BaseException):
    """Raised inside a function stopped by the pruner or a timeout (BaseException: a user's
    `except Exception` must not swallow it)."""


class FunctionThread:
    """`with FunctionThread(...) as run:` calls the function; leaving the block stops it."""

    def __init__(self, function: Callable[[], Any], *, env: Mapping[str, str], grace: float,
                 stopped_state: str):
        self.function, self.env, self.grace, self.stopped_state = (function, dict(env), grace,
                                                                   stopped_state)
        self._thread = threading.Thread(target=self._call, name="sweep-function", daemon=True)
        self._saved: dict[str, str | None] = {}
        self._error: str | None = None
        self._stopped = False

    def __enter__(self) -> "FunctionThread":
        self._saved = {name: os.environ.get(name) for name in self.env}
        os.environ.update(self.env)
        wandb = sys.modules.get("wandb")
        if wandb is not None:   # W&B's agent does the same: each run reads the environment anew
            wandb.teardown()
        self._thread.start()
        return self

    def __exit__(self, kind, error, traceback_) -> None:
        try:
            if self.running:
                self.stop(signal.SIGTERM)
        finally:
            for name, value in self._saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def exit_code(self) -> int | None:
        """None while it runs; then as a program's: 0, 1 for an error, 143 when stopped."""
        if self.running:
            return None
        return STOPPED_EXIT if self._stopped else 1 if self._error else 0

    def wait(self, timeout: float) -> int | None:
        self._thread.join(timeout)
        return self.exit_code

    def stop(self, signum: int) -> int | None:
        """End its W&B run as stopped, then stop the function; returns once it has ended, or
        after the grace period when it does not return to Python code."""
        self._stopped = True
        self._end_run_stopped()
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread.ident),
                                                   ctypes.py_object(Stopped))
        return self.wait(self.grace)

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join((self._error or "").splitlines()[-lines:])

    def _call(self) -> None:
        try:
            self.function()
        except Stopped:
            pass
        except BaseException:   # the trial fails with its traceback, as a program's stderr
            if not self._stopped:
                self._error = traceback.format_exc()
        finally:
            wandb = sys.modules.get("wandb")
            if wandb is not None and wandb.run is not None:
                # A function that returns without finishing its run: W&B's agent finishes it.
                wandb.run.finish(exit_code=1 if self._error else 0)

    def _end_run_stopped(self) -> None:
        run = getattr(sys.modules.get("wandb"), "run", None)
        if run is None:
            return
        try:
            run.summary["state"] = self.stopped_state
            run.tags = tuple(run.tags or ()) + (self.stopped_state,)
            run.finish(exit_code=0)
        except Exception:   # the function is being stopped either way
            pass
