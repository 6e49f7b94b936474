"""Retrying a trial: a new queued trial with the same parameters that resumes the old one.

A retry is a WAITING trial carrying the failed trial's parameters, its sampler's attributes
(such as the grid point), Optuna's retry keys (`failed_trial`, `retry_history`: see `attrs`)
and `resume_dirs`: the folders whose checkpoints it resumes from, newest first. Each attempt
trains in its own folder, so checkpoint retention never mixes two attempts' files; a failed
trial keeps its last.pt for its retry. A retry resumes through the trainer's own loader, so a
truncated last.pt falls back to the newest valid checkpoint beside it, with a note; one that
finds no valid checkpoint on its machine (another machine ran the failed attempt and --root is
not shared) starts from epoch 0.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps import attrs
from torchsweep.trainer.checkpoint import Checkpoints
from torchsweep.trainer.errors import CheckpointError

_logger = logging.getLogger(__name__)


class Resume(NamedTuple):
    checkpoint: Path
    epoch: int


def enqueue_retry(study: optuna.Study, failed: FrozenTrial, *, resume: bool) -> None:
    dirs: list[str] = []
    if resume:
        own = attrs.trial_dir(failed)
        dirs = ([own] if own else []) + attrs.resume_dirs(failed)
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=failed.params, distributions=failed.distributions,
        user_attrs={attrs.RESUME_DIRS: dirs}, system_attrs=attrs.retry_system_attrs(failed)))


def requeue_failed(study: optuna.Study, *, resume: bool) -> list[int]:
    """--retry-failed (resume=True) and --restart-failed: queue every failed trial that has no
    retry yet, whatever --max-retries says (a person asked). Returns their numbers."""
    failed = unretried(study.get_trials(deepcopy=False))
    for trial in failed:
        enqueue_retry(study, trial, resume=resume)
    return [t.number for t in failed]


def unretried(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The failed trials that have no retry."""
    retried = {attrs.retry_of(t) for t in trials if attrs.is_retry(t)}
    return [t for t in trials if t.state == TrialState.FAIL and t.number not in retried]


def missing(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Failed trials whose retry is due and not queued: failing a trial and queuing its retry
    are two storage writes, and the worker that made the first may have been killed before
    the second (or is about to make it)."""
    return [t for t in unretried(trials) if attrs.retry_due(t)]


def resume_point(root: Path, trial: optuna.Trial) -> Resume | None:
    """Where a retry continues: the newest valid checkpoint of its newest resume folder that has
    one, as the trainer's loader picks it (None for a first attempt, or when none is valid)."""
    for folder in attrs.resume_dirs(trial):
        try:
            found = Checkpoints(Path(root) / folder).resume_point()
        except CheckpointError as error:
            _logger.warning("trial %d: %s", trial.number, error)
            continue
        if found is None:
            continue
        if found.note:
            _logger.warning("trial %d: %s", trial.number, found.note)
        return Resume(found.path, found.epoch)
    return None
