"""Checkpoint retention: a study keeps the best-epoch checkpoints of its top-k trials only.

Run after every finished trial, from any worker: it recomputes the ranking from the storage
and deletes what falls outside it, so concurrent workers converge on the same k files and
disk stays bounded by k however many trials run. The kept files are recorded in the study's
user attribute `checkpoints` (trial number -> path relative to the root), so nothing is ever
found by globbing.
"""
from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.trainer.files import BEST, LAST

CHECKPOINTS_ATTR = "checkpoints"
# On a retry: the folders of the failed attempts whose last.pt it resumes from, newest first.
RESUME_DIRS_ATTR = "resume_dirs"
TRIAL_DIR_ATTR = "dir"


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best first (ties keep the earlier trial first)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: (-t.value if maximize else t.value, t.number))


def retain_top_k(study: optuna.Study, root: Path, k: int) -> dict[int, str]:
    """Delete checkpoints outside the top k; return and record {trial number: best.pt path}."""
    top = ranked(study)[:k]
    keep = {t.number for t in top}
    trials = study.get_trials(deepcopy=False)
    # Once a retry has completed or been pruned, the attempts it resumed from are done with.
    superseded = {folder for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                  for folder in t.user_attrs.get(RESUME_DIRS_ATTR, [])}
    for trial in trials:
        if trial.state == TrialState.RUNNING or TRIAL_DIR_ATTR not in trial.user_attrs:
            continue
        folder = Path(root) / trial.user_attrs[TRIAL_DIR_ATTR]
        if trial.number not in keep:
            (folder / BEST).unlink(missing_ok=True)
        # A failed trial keeps its resume state so a retry can continue from it; a finished
        # one never resumes again.
        if trial.state != TrialState.FAIL or trial.user_attrs[TRIAL_DIR_ATTR] in superseded:
            (folder / LAST).unlink(missing_ok=True)
    kept = {t.number: f"{t.user_attrs[TRIAL_DIR_ATTR]}/{BEST}" for t in top
            if (Path(root) / t.user_attrs[TRIAL_DIR_ATTR] / BEST).is_file()}
    study.set_user_attr(CHECKPOINTS_ATTR, {str(number): path for number, path in kept.items()})
    return kept
