"""Run as a script beside each trial program: ends the program's whole process group if `sweep`
dies while the program runs.

`sweep` killed outright (SIGKILL, the OOM killer) can stop nothing itself, and Linux's
parent-death signal reaches the program alone, not what the program started (a data loader's
workers, a shell's children). This process, in a session of its own, reads its stdin, a pipe
that only `sweep` writes: `sweep` writes a byte once it is done with the program; end of file
without it means `sweep` is gone. Then the group gets SIGTERM, as a stopped program does, and
SIGKILL after the grace period. Standard library only, started with `python -I -S`: it costs a
few milliseconds a trial.

    python -I -S watchdog.py PROCESS_GROUP GRACE_SECONDS
"""
import os
import signal
import sys
import time

DONE = b"."     # what `sweep` writes once the program needs no watching


def _signal(group: int, signum: int) -> bool:
    """Whether the group still had a process to signal."""
    try:
        os.killpg(group, signum)
        return True
    except ProcessLookupError:
        return False


def main(group: int, grace: float) -> None:
    if sys.stdin.buffer.read(1) == DONE:
        return
    deadline = time.monotonic() + grace
    if not _signal(group, signal.SIGTERM):
        return
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not _signal(group, 0):
            return
    _signal(group, signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
