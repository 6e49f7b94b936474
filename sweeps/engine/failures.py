"""Why a trial stopped short, in one word, and what to do about memory afterwards.

Reasons recorded as the trial's `reason` attribute (shown by `sweep show`):
out_of_memory (the settings need more memory than the device has: a finding, like a pruned
trial), infeasible (an unbounded distribution drew a value the study's rules refuse: a finding
too), interrupted (Ctrl+C), preempted (SIGTERM), cannot_write (a full disk or a read-only
folder: not the trial's fault, and every next trial would fail alike), storage_lost (the storage
stopped answering for longer than --storage-grace), error (anything else, with its traceback)
and, for a user's program, no_metric and timed_out.
"""
from __future__ import annotations

import gc
import logging
import sys
import traceback
from typing import Any, NoReturn

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.sweeps.errors import StorageLost
from torchsweep.trainer.errors import cannot_write

_OUT_OF_MEMORY_TEXT = ("out of memory", "can't allocate memory")
_logger = logging.getLogger(__name__)


class TrialFailed(Exception):
    """A trial that ended in failure for a reason its objective knows (its attrs say which)."""


def failed(trial: optuna.Trial, reason: str, detail: str) -> TrialFailed:
    """Record why `trial` failed (reason, and the detail as its `error`); raise what returns."""
    attrs.record_reason(trial, reason, detail)
    return TrialFailed(f"{reason}: {detail.splitlines()[0]}")


def infeasible(trial: optuna.Trial, error: Exception) -> optuna.TrialPruned:
    """A draw the study's rules refuse: told to Optuna as pruned, which samplers learn from
    (TPE skips failed trials), so the search moves away from it."""
    attrs.record_reason(trial, "infeasible", str(error))
    _logger.warning("trial %d is infeasible: %s", trial.number, error)
    return optuna.TrialPruned(f"infeasible: {error}")


def ended_by(trial: optuna.Trial, run: Any, error: BaseException) -> NoReturn:
    """A trial that `error` ended (Ctrl+C and SIGTERM too): record why, with its traceback,
    and finish its runs (`run`: a tracking Fanout), which must be finished either way. Raises
    what Optuna is to be told: an out-of-memory as pruned (samplers learn from pruned trials,
    TPE skips failed ones, so the sweep moves away from settings that do not fit in memory),
    anything else as it is."""
    why = reason(error)
    attrs.record_reason(trial, why, traceback.format_exc(limit=20)
                        if isinstance(error, Exception) else None)
    run.finish(why if why in ("interrupted", "preempted") else "failed",
               {"error": f"{type(error).__name__}: {error}"})
    if why == "out_of_memory":
        raise optuna.TrialPruned(f"out of memory: {error}") from None
    raise error


def reason(error: BaseException) -> str:
    if isinstance(error, Stopped):
        return error.reason
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if is_out_of_memory(error):
        return "out_of_memory"
    if cannot_write(error):
        return "cannot_write"
    if isinstance(error, StorageLost):
        return "storage_lost"
    return "error"


def is_out_of_memory(error: BaseException) -> bool:
    # torch as the trial left it: a program's or a function's sweep never imports it here (5 s
    # of a busy core), and an error torch raised means torch is imported.
    torch = sys.modules.get("torch")
    if isinstance(error, MemoryError) or (torch and isinstance(error, torch.OutOfMemoryError)):
        return True
    # Allocators other than CUDA's (CPU, MPS, cuDNN workspaces) raise plain RuntimeErrors.
    return isinstance(error, RuntimeError) and any(
        text in str(error).lower() for text in _OUT_OF_MEMORY_TEXT)


def free_memory() -> None:
    """Give a failed trial's tensors back before the next trial allocates its own (none where
    no trial imported torch: a program's or a function's sweep)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch and torch.cuda.is_available():
        torch.cuda.empty_cache()
