"""The one error hierarchy: every error a user can fix is a `UserError` carrying its exit code.

The training core defines the root and its own errors; the sweep engine adds its errors in
`torchsweep.sweeps.errors`, and the CLI prints any of them as one line and exits with
`exit_code` (the table is in docs/errors.md). Torch-free, so catching them costs nothing.
"""
from __future__ import annotations

import errno


class UserError(Exception):
    """Something the user can fix. Its message is one line: where, what, what is allowed."""

    exit_code = 1


class ConfigError(UserError, ValueError):
    """A setting that is unknown, out of range, or cannot work with another.

    `setting` names it (None when no single setting is to blame) and `problem` says what is
    wrong with it; the message is `setting: problem`.
    """

    exit_code = 2

    def __init__(self, setting: str | None, problem: str):
        self.setting, self.problem = setting, problem
        super().__init__(f"{setting}: {problem}" if setting else problem)


class CheckpointError(UserError):
    """A checkpoint that is missing, truncated, unsafe or from an unknown format."""

    exit_code = 5


class DataError(UserError):
    """A dataset that cannot be loaded; the message says what to do."""

    exit_code = 6


class WriteError(UserError):
    """An output that cannot be written (disk full, read-only folder); the file it would have
    replaced is left as it was."""

    exit_code = 7


# A full disk, a quota or a read-only file system: any write can meet one, ours or a library's.
CANNOT_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def cannot_write(error: BaseException) -> bool:
    """Whether `error` is an output that cannot be written: not the input's fault, and every
    next write would fail alike."""
    return isinstance(error, WriteError) or (
        isinstance(error, OSError) and error.errno in CANNOT_WRITE_ERRNOS)
