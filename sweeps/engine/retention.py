"""Checkpoint retention: a study keeps the best-epoch checkpoints of its top-k trials only.

Run after every finished trial, from any worker: it recomputes the ranking from the storage
and deletes what falls outside it, so concurrent workers converge on the same k files and
disk stays bounded by k however many trials run. The kept files are recorded in the study's
user attribute `checkpoints` (trial number -> path relative to the root), so nothing is ever
found by globbing. For a user's program the unit kept is the trial's whole folder. This module
decides which trials are among the top k and how each ended; which files that keeps, and every
deletion, is the trainer's checkpoint owner's (`trainer.checkpoint.Checkpoints`).
"""
from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from torchsweep.sweeps import attrs
from torchsweep.sweeps.readout.trials import is_multi_objective, ranked
from torchsweep.trainer.checkpoint import Checkpoints, Outcome


def retain_top_k(study: optuna.Study, root: Path, k: int, *,
                 whole_folders: bool = False) -> dict[int, str]:
    """Delete what falls outside the top k; return and record {trial number: what is kept}.

    A trainer study keeps its top-k trials' best.pt; a program study (`whole_folders`) keeps
    the top-k trials' whole folders, whatever the program wrote there. A multi-objective study
    keeps its whole Pareto front, and a study without a metric every trial."""
    best_first = ranked(study)
    top = best_first if is_multi_objective(study) else best_first[:k]
    if not attrs.has_metric(study):   # nothing to rank by (StudySpec.ranked says so once)
        top = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if whole_folders:
        kept = _retain_folders(study, root, {t.number for t in top})
    else:
        kept = _retain_checkpoints(study, root, top)
    attrs.record_kept_checkpoints(study, kept)
    return kept


def _retain_checkpoints(study: optuna.Study, root: Path, top: list) -> dict[int, str]:
    keep = {t.number for t in top}
    trials = study.get_trials(deepcopy=False)
    # Once a retry has completed or been pruned, the attempts it resumed from are done with.
    superseded = {folder for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                  for folder in attrs.resume_dirs(t)}
    folders = {trial.number: attrs.trial_dir(trial) for trial in trials}
    for trial in trials:
        folder = folders[trial.number]
        if trial.state == TrialState.RUNNING or folder is None:
            continue
        outcome = (Outcome.FINISHED if trial.state != TrialState.FAIL else
                   Outcome.SUPERSEDED if folder in superseded else Outcome.FAILED)
        Checkpoints(Path(root) / folder).retain(top=trial.number in keep, outcome=outcome)
    kept = {t.number: Checkpoints(Path(root) / folder).kept() for t in top
            if (folder := folders.get(t.number)) is not None}
    return {number: str(path.relative_to(root)) for number, path in kept.items() if path}


def _retain_folders(study: optuna.Study, root: Path, keep: set[int]) -> dict[int, str]:
    """A program's trial folder goes once no trial that uses it (its attempts share it) is
    kept, running, queued, or failed without a finished retry (it may resume there)."""
    trials = study.get_trials(deepcopy=False)
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    retried = {attrs.retry_of(t) for t in trials if attrs.is_retry(t) and t.state in finished}
    needed = {attrs.trial_dir(t) for t in trials
              if t.number in keep or t.state in (TrialState.RUNNING, TrialState.WAITING)
              or (t.state == TrialState.FAIL and t.number not in retried)}
    folders = {t.number: attrs.trial_dir(t) for t in trials}
    for folder in set(folders.values()) - needed:
        if folder is not None:
            Checkpoints(Path(root) / folder).remove()
    return {number: folder for number, folder in folders.items()
            if number in keep and folder and (Path(root) / folder).is_dir()}
