"""Retrying a trial: a new queued trial with the same parameters that resumes the old one.

A retry is a WAITING trial carrying the failed trial's parameters (and the sampler's attributes
that go with them, such as the grid point), `retry_of` (the number of the attempt it replaces),
`attempt` (1 for a first try) and `resume_dirs`: the folders whose last.pt it resumes from,
newest first. Each attempt trains in its own folder, so checkpoint retention never mixes two
attempts' files; a failed trial keeps its last.pt for its retry. A retry that finds none of
those checkpoints on its machine (another machine ran the failed attempt and --root is not
shared) starts from epoch 0.
"""
from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps.engine.retention import RESUME_DIRS_ATTR, TRIAL_DIR_ATTR
from torchsweep.trainer.files import LAST

RETRY_OF_ATTR = "retry_of"
ATTEMPT_ATTR = "attempt"
RESUMED_AT_ATTR = "resumed_at_epoch"    # set on a retry: the checkpoint epoch it continued from
OURS = "sweep:"                          # prefix of our system attrs (heartbeats), never copied


def attempt(trial: FrozenTrial) -> int:
    return trial.user_attrs.get(ATTEMPT_ATTR, 1)


def enqueue_retry(study: optuna.Study, failed: FrozenTrial, *, resume: bool) -> None:
    dirs: list[str] = []
    if resume:
        own = [failed.user_attrs[TRIAL_DIR_ATTR]] if TRIAL_DIR_ATTR in failed.user_attrs else []
        dirs = own + list(failed.user_attrs.get(RESUME_DIRS_ATTR, []))
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=failed.params, distributions=failed.distributions,
        user_attrs={RETRY_OF_ATTR: failed.number, ATTEMPT_ATTR: attempt(failed) + 1,
                    RESUME_DIRS_ATTR: dirs},
        system_attrs={key: value for key, value in failed.system_attrs.items()
                      if not key.startswith(OURS)}))


def requeue_failed(study: optuna.Study, *, resume: bool) -> list[int]:
    """--retry-failed (resume=True) and --restart-failed: queue every failed trial that has no
    retry yet, whatever --max-retries says (a person asked). Returns their numbers."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs[RETRY_OF_ATTR] for t in trials if RETRY_OF_ATTR in t.user_attrs}
    failed = [t for t in trials if t.state == TrialState.FAIL and t.number not in retried]
    for trial in failed:
        enqueue_retry(study, trial, resume=resume)
    return [t.number for t in failed]


def resume_checkpoint(root: Path, trial: optuna.Trial) -> Path | None:
    """The checkpoint a retry continues from: the newest of its resume folders' last.pt."""
    for folder in trial.user_attrs.get(RESUME_DIRS_ATTR, []):
        path = Path(root) / folder / LAST
        if path.is_file():
            return path
    return None


def checkpoint_epoch(path: Path) -> int:
    """The epoch a checkpoint was saved at; mmap leaves its tensors on disk."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)["epoch"]
