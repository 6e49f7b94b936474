"""Every error a user can fix, with its exit code: the training core's and the sweep engine's.

The CLI's one error boundary prints `str(error)` on one line and exits with `error.exit_code`;
the manual's table of exit codes (docs/errors.md) is this module. Cheap to import: nothing
heavy comes with it.
"""
from __future__ import annotations

from torchsweep.trainer.errors import CheckpointError, ConfigError, DataError, UserError, WriteError

__all__ = ["UserError", "ConfigError", "CheckpointError", "DataError", "WriteError",
           "WorkerError", "SpaceError", "StudyError", "DashboardError", "UnknownStudy",
           "StudyNotFound", "StorageError", "StorageLost", "ExportError", "SyncError", "ImageError",
           "SchedulerError", "InfeasibleDraw"]


class WorkerError(UserError):
    """A local worker process ended with an error or was killed."""

    exit_code = 1


class SpaceError(UserError, ValueError):
    """A study file, `--param` or `--set` that cannot be run: '<where>: <what>; <allowed>'."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Keys and values come from user files and may hold line breaks; the CLI prints one line.
        super().__init__(" ".join(message.splitlines()))


class UnknownSetting(SpaceError):
    """A parameter or metric name the trainer does not know, in a study for the trainer: in a
    W&B file without `program:`, as likely the user's own code's names as a misspelling."""


class StudyError(UserError):
    """A study that cannot be run as asked (e.g. its search space changed)."""

    exit_code = 2


class DashboardError(UserError):
    """The dashboard cannot listen where it was asked to."""

    exit_code = 2


class UnknownStudy(UserError, LookupError):
    """Not bundled, not a file, not run before, and no --param to define it."""

    exit_code = 3


class StudyNotFound(UserError, LookupError):
    """No study of that name in the storage."""

    exit_code = 3


class StorageError(UserError):
    """A storage that cannot be reached, parsed or read."""

    exit_code = 4


class StorageLost(StorageError):
    """A storage that stopped answering for longer than --storage-grace while workers ran: the
    trials they ran are retried by the next run or worker."""


class ExportError(UserError):
    """Nothing to export: no completed trial, or its checkpoint is gone."""

    exit_code = 5


class SyncError(UserError):
    """W&B's sync left runs un-uploaded (no credentials, no network, out of time)."""

    exit_code = 9


class ImageError(UserError):
    """`sweep report --png` could not draw the images (no Chromium, or it failed)."""

    exit_code = 10


class SchedulerError(UserError):
    """`sweep launch slurm`: Slurm's commands are missing here, or refused (sbatch, squeue)."""

    exit_code = 11


class InfeasibleDraw(Exception):
    """Not a user's error but a trial's outcome: a value drawn from an unbounded (normal-family)
    distribution that the study's rules refuse. The trial ends with reason `infeasible`."""
