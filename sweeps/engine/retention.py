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
from optuna.trial import TrialState

from torchsweep.sweeps import attrs
from torchsweep.sweeps.readout.trials import ranked
from torchsweep.trainer.files import BEST, LAST


def retain_top_k(study: optuna.Study, root: Path, k: int) -> dict[int, str]:
    """Delete checkpoints outside the top k; return and record {trial number: best.pt path}."""
    top = ranked(study)[:k]
    keep = {t.number for t in top}
    trials = study.get_trials(deepcopy=False)
    # Once a retry has completed or been pruned, the attempts it resumed from are done with.
    superseded = {folder for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                  for folder in attrs.resume_dirs(t)}
    for trial in trials:
        if trial.state == TrialState.RUNNING or attrs.trial_dir(trial) is None:
            continue
        folder = Path(root) / attrs.trial_dir(trial)
        if trial.number not in keep:
            (folder / BEST).unlink(missing_ok=True)
        # A failed trial keeps its resume state so a retry can continue from it; a finished
        # one never resumes again.
        if trial.state != TrialState.FAIL or attrs.trial_dir(trial) in superseded:
            (folder / LAST).unlink(missing_ok=True)
    kept = {t.number: f"{attrs.trial_dir(t)}/{BEST}" for t in top
            if (Path(root) / attrs.trial_dir(t) / BEST).is_file()}
    study.set_user_attr(attrs.CHECKPOINTS, {str(number): path for number, path in kept.items()})
    return kept
