"""A trial's program as a process: started in a group of its own, stopped as W&B's agent stops
one, and never left behind.

The program runs in a new session, so a terminal's Ctrl+C reaches `sweep` alone, which stops
the program itself: the signal first (SIGTERM when the pruner or a timeout stops it, or the
signal `sweep` got), then SIGKILL for the whole group after a grace period. If `sweep` dies
outright, a watchdog process does the same (see `watchdog`). Its output goes to files in the
trial's folder.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Mapping, Sequence

from torchsweep.sweeps.engine.program import watchdog
from torchsweep.sweeps.study.program_files import STDERR, STDOUT

STOP_GRACE = 10.0        # seconds a stopped program gets before SIGKILL (W&B's agent: 30)


class ProgramProcess:
    """`with ProgramProcess(...) as program:` runs it; leaving the block stops what still runs."""

    def __init__(self, command: Sequence[str], *, env: Mapping[str, str], folder: Path,
                 grace: float = STOP_GRACE):
        self.command, self.env, self.folder, self.grace = list(command), dict(env), folder, grace
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "ProgramProcess":
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / STDOUT, "ab") as out, open(self.folder / STDERR, "ab") as err:
            self._process = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=err, start_new_session=True)
        # Its own session: a signal to `sweep`'s process group does not reach it.
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog.__file__, str(self._process.pid),
             str(self.grace)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if self.running:
                # The signal that stopped the sweep (Ctrl+C, preemption) is the one it gets.
                self.stop(getattr(error, "signum", signal.SIGINT if kind is KeyboardInterrupt
                                  else signal.SIGTERM))
        finally:
            if self._watchdog is not None:
                self._watchdog.communicate(watchdog.DONE)

    @property
    def _started(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "a ProgramProcess is used inside its `with` block"
        return self._process

    @property
    def running(self) -> bool:
        return self._started.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self._started.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self._started.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, signum: int) -> int:
        """Send `signum` to the program's group, then SIGKILL it after the grace period."""
        self._signal(signum)
        if self.wait(self.grace) is None:
            self._signal(signal.SIGKILL)
            self._started.wait()
        self._signal(signal.SIGKILL)   # what the program started and left behind
        return self._started.returncode

    def stderr_tail(self, lines: int = 20) -> str:
        with open(self.folder / STDERR, errors="replace") as err:
            return "".join(deque(err, maxlen=lines))

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self._started.pid, signum)
        except ProcessLookupError:   # the group is gone
            pass
