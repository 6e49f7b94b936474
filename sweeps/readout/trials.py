"""The one read model of a study: its trials as `TrialRecord`s, ranked by the study's goal.

`sweep list`, `show`, `best`, the export, the report and the W&B study run all read studies
through here, and never write. A record holds what the storage says of a trial (its attributes
are read through `attrs`) and, when asked for with a root, its per-epoch history from its
`metrics.jsonl` and every evaluation (within epochs too) from its `evaluations.jsonl`:
Optuna's intermediate values hold the study metric only, and a learning curve or a
calibration plot needs every column. Never imports torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps import attrs
from torchsweep.sweeps.errors import StudyNotFound
from torchsweep.sweeps.readout.collapse import collapses
from torchsweep.sweeps.storage import LOOK_GRACE, mask_password, open_storage, storage_url
from torchsweep.sweeps.study.messages import STUDY_NAME_CUTOFF, did_you_mean
from torchsweep.trainer.files import EVALUATIONS, METRICS
from torchsweep.trainer.goal import Goal

STATE_NAMES = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed", TrialState.RUNNING: "running",
               TrialState.WAITING: "waiting"}


@dataclass
class TrialRecord:
    number: int
    state: str                       # completed | pruned | failed | running | waiting
    params: dict[str, Any]           # the sampled values, as the trainer took them
    config: dict[str, Any] = field(default_factory=dict)           # the resolved config
    epochs: list[dict[str, float]] = field(default_factory=list)   # metrics.jsonl, if read
    # evaluations.jsonl, if read: every evaluation, within epochs too, at its samples seen
    evaluations: list[dict[str, float]] = field(default_factory=list)
    reason: str | None = None        # why it did not complete (lost, out_of_memory, ...)
    value: float | None = None       # the (first) objective's value
    values: list[float] | None = None   # every objective's, in a multi-objective study
    epochs_run: int | None = None
    # Trainer trials: epochs (1.25 = a quarter into the second); a program's: its own step.
    pruned_at: float | None = None
    epochs_trained: float | None = None   # samples trained / split size, a stopped epoch too
    duration_s: float | None = None
    checkpoint: str | None = None    # kept best checkpoint, relative to the root
    best_metrics: dict[str, float] | None = None
    retry_of: int | None = None      # the attempt this one retries (its worker died or stopped)
    resumed_at: int | None = None    # the epoch of that attempt's checkpoint it continued from
    repeats: dict[str, Any] | None = None   # with repeats: its seeds, their values and spread
    # With repeats and a root: the other seeds' metrics.jsonl (the first seed's is `epochs`)
    # and evaluations.jsonl (the first seed's is `evaluations`).
    seed_epochs: list[list[dict[str, float]]] = field(default_factory=list)
    seed_evaluations: list[list[dict[str, float]]] = field(default_factory=list)
    reliability: dict[str, list[float]] | None = None   # the reliability diagram, best epoch
    # The metric as reported to Optuna at each evaluation, in step order ([] with repeats).
    curve: list[float] = field(default_factory=list)
    collapsed: dict[str, float] | None = None   # set by records(): see readout.collapse

    def to_dict(self) -> dict[str, Any]:
        """What `--json` prints of a trial: everything but the config and the histories."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("config", "epochs", "evaluations", "seed_epochs",
                               "seed_evaluations", "reliability", "curve")}

    def histories(self) -> list[list[dict[str, float]]]:
        """Every seed's per-epoch history, the first seed's first (one for a single seed)."""
        return [self.epochs, *self.seed_epochs] if self.epochs else []


def best_epoch(history: list[dict[str, float]], metric: str,
               goal: Goal) -> dict[str, float] | None:
    """The epoch with the best value of `metric` (the first of equals), None if none ran."""
    scored = [m for m in history if metric in m]
    if not scored:
        return None
    return goal.best(scored, key=lambda m: m[metric])


def load_study(name: str, root: Path, storage: str | None,
               grace: float | None = None) -> optuna.Study:
    """The study; `grace`: a worker's --storage-grace, None for a command that only looks."""
    url = storage_url(root, storage)
    opened = open_storage(url, create=False, grace=LOOK_GRACE if grace is None else grace,
                          looking=grace is None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=opened,
                                 sampler=optuna.samplers.RandomSampler())
    except KeyError:
        names = sorted(s.study_name for s in opened.get_all_studies())
        known = f"; studies there: {', '.join(names)}" if names else "; it holds no studies yet"
        raise StudyNotFound(f"no study named '{name}' in {mask_password(url)}{known}"
                            f"{did_you_mean(name, names, STUDY_NAME_CUTOFF)}") from None


def list_studies(root: Path, storage: str | None) -> list[dict[str, Any]]:
    """Every study in the storage with its trial counts and best value ([] when none yet)."""
    url = storage_url(root, storage)
    if "://" not in url and not Path(url).is_file():
        return []
    opened = open_storage(url, create=False, grace=LOOK_GRACE, looking=True)
    summaries = optuna.get_all_study_summaries(storage=opened, include_best_trial=True)
    rows = [{"name": s.study_name, "trials": s.n_trials,
             "best": s.best_trial.value if s.best_trial is not None and attrs.has_metric(s)
             else None} for s in summaries]
    return sorted(rows, key=lambda row: row["name"])


def goal(study: optuna.Study) -> Goal:
    """The (first) objective's goal."""
    return Goal.from_name(study.directions[0].name)


def is_multi_objective(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best first by the study's goal (ties keep the earlier trial first).
    A multi-objective study has no single best: its Pareto front, by the first objective. A
    study without a metric ranks none."""
    if not attrs.has_metric(study):
        return []
    if is_multi_objective(study):
        candidates = study.best_trials
    else:
        candidates = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                      if t.values is not None]
    sign = goal(study).sign
    return sorted(candidates, key=lambda t: (-sign * t.values[0], t.number))


def records(study: optuna.Study, root: Path | None = None) -> list[TrialRecord]:
    """Every trial in number order; with `root`, each with its per-epoch history: the trainer's
    metrics.jsonl, or for a user's program the values it reported at each step."""
    kept = attrs.kept_checkpoints(study)
    trials = [_record(trial, kept, root) for trial in study.get_trials(deepcopy=False)]
    for record in trials if not attrs.has_metric(study) else ():
        record.value = None   # Optuna's placeholder: the study has no metric
    if root is not None and attrs.runs_program(study):
        metric = attrs.metric_name(study)
        for record, trial in zip(trials, study.get_trials(deepcopy=False)):
            record.epochs = [{"epoch": step, metric: value}
                             for step, value in sorted(trial.intermediate_values.items())]
    if not is_multi_objective(study):
        found = collapses({t.number: t.curve for t in trials if t.curve}, goal(study))
        for record in trials:
            record.collapsed = found[record.number].to_dict() if record.number in found else None
    return trials


def ranked_records(study: optuna.Study) -> list[TrialRecord]:
    """Completed trials as records, best first."""
    kept = attrs.kept_checkpoints(study)
    return [_record(trial, kept, None) for trial in ranked(study)]


def best_record(study: optuna.Study) -> TrialRecord | None:
    top = ranked(study)
    return _record(top[0], attrs.kept_checkpoints(study), None) if top else None


def varying(trials: list[TrialRecord]) -> list[str]:
    """Parameters whose value differs between trials: the fixed ones would only add noise (all
    of them for a single trial, which has nothing to differ from)."""
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    if len(trials) < 2:
        return names
    return [name for name in names if len({repr(t.params.get(name)) for t in trials}) > 1]


def _record(trial: FrozenTrial, kept: dict[str, str], root: Path | None) -> TrialRecord:
    summary = attrs.summary(trial)
    reason = attrs.reason(trial)
    folder = attrs.trial_dir(trial)
    return TrialRecord(
        number=trial.number, state=STATE_NAMES.get(trial.state, trial.state.name.lower()),
        params=attrs.params(trial), config=attrs.config(trial),
        epochs=_read_rows(Path(root) / folder / METRICS) if root is not None and folder else [],
        evaluations=(_read_rows(Path(root) / folder / EVALUATIONS)
                     if root is not None and folder else []),
        reason=reason if reason not in (None, "pruned") else None,
        value=trial.values[0] if trial.values else None,
        values=list(trial.values) if trial.values and len(trial.values) > 1 else None,
        epochs_run=summary.get("epochs_run"), pruned_at=summary.get("pruned_at"),
        epochs_trained=summary.get("epochs_trained"),
        duration_s=trial.duration.total_seconds() if trial.duration is not None else None,
        checkpoint=kept.get(str(trial.number)), best_metrics=summary.get("best"),
        retry_of=attrs.retry_of(trial), resumed_at=attrs.resumed_at(trial),
        repeats=attrs.repeats(trial), reliability=attrs.best_reliability(trial),
        curve=([value for _, value in sorted(trial.intermediate_values.items())]
               if attrs.repeats(trial) is None else []),
        seed_epochs=[_read_rows(Path(root) / seed / METRICS)
                     for seed in attrs.seed_dirs(trial)[1:]] if root is not None else [],
        seed_evaluations=[_read_rows(Path(root) / seed / EVALUATIONS)
                          for seed in attrs.seed_dirs(trial)[1:]] if root is not None else [])


def _read_rows(path: Path) -> list[dict[str, float]]:
    """A trial's metrics.jsonl or evaluations.jsonl; [] when it is gone. A trial still running
    may be mid-way through writing its last line, which is left out."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    epochs = []
    for line in lines:
        try:
            epochs.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return epochs
