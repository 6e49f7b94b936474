"""Reading studies back for `sweep list`, `sweep show` and `sweep best`. Never imports torch."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps.errors import StudyNotFound
from torchsweep.sweeps.engine.objective import PARAMS_ATTR, REASON_ATTR, SUMMARY_ATTR
from torchsweep.sweeps.engine.orchestrate import SPEC_ATTR
from torchsweep.sweeps.engine.retention import CHECKPOINTS_ATTR, ranked
from torchsweep.sweeps.engine.retries import RESUMED_AT_ATTR, RETRY_OF_ATTR
from torchsweep.sweeps.storage import mask_password, open_storage, storage_url

STATE_NAMES = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed", TrialState.RUNNING: "running",
               TrialState.WAITING: "waiting"}


@dataclass
class TrialRow:
    number: int
    state: str
    reason: str | None
    value: float | None
    params: dict[str, Any]
    epochs_run: int | None
    pruned_at: int | None
    duration_s: float | None
    checkpoint: str | None           # kept best checkpoint, relative to the root
    best_metrics: dict[str, float] | None
    retry_of: int | None = None      # the trial this one retries (its worker died or stopped)
    resumed_at: int | None = None    # the epoch of that trial's checkpoint it continued from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_study(name: str, root: Path, storage: str | None) -> optuna.Study:
    url = storage_url(root, storage)
    opened = open_storage(url, create=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=opened,
                                 sampler=optuna.samplers.RandomSampler())
    except KeyError:
        names = sorted(s.study_name for s in opened.get_all_studies())
        known = f"; studies there: {', '.join(names)}" if names else "; it holds no studies yet"
        raise StudyNotFound(f"no study named '{name}' in {mask_password(url)}{known}") from None


def trial_rows(study: optuna.Study) -> list[TrialRow]:
    kept = study.user_attrs.get(CHECKPOINTS_ATTR, {})
    return [_row(trial, kept) for trial in study.get_trials(deepcopy=False)]


def best_row(study: optuna.Study) -> TrialRow | None:
    top = ranked(study)
    return _row(top[0], study.user_attrs.get(CHECKPOINTS_ATTR, {})) if top else None


def metric_name(study: optuna.Study) -> str:
    return study.user_attrs.get(SPEC_ATTR, {}).get("metric", {}).get("name", "value")


def list_studies(root: Path, storage: str | None) -> list[dict[str, Any]]:
    """Every study in the storage with its trial counts and best value ([] when none yet)."""
    url = storage_url(root, storage)
    if "://" not in url and not Path(url).is_file():
        return []
    summaries = optuna.get_all_study_summaries(storage=open_storage(url, create=False),
                                               include_best_trial=True)
    rows = [{"name": s.study_name, "trials": s.n_trials,
             "best": s.best_trial.value if s.best_trial is not None else None} for s in summaries]
    return sorted(rows, key=lambda row: row["name"])


def _row(trial: FrozenTrial, kept: dict[str, str]) -> TrialRow:
    summary = trial.user_attrs.get(SUMMARY_ATTR) or {}
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    reason = trial.user_attrs.get(REASON_ATTR)
    return TrialRow(number=trial.number, state=STATE_NAMES.get(trial.state, trial.state.name.lower()),
                    reason=reason if reason not in (None, "pruned") else None,
                    value=trial.value, params=trial.user_attrs.get(PARAMS_ATTR, trial.params),
                    epochs_run=summary.get("epochs_run"), pruned_at=summary.get("pruned_at"),
                    duration_s=duration, checkpoint=kept.get(str(trial.number)),
                    best_metrics=summary.get("best"),
                    retry_of=trial.user_attrs.get(RETRY_OF_ATTR),
                    resumed_at=trial.user_attrs.get(RESUMED_AT_ATTR))
