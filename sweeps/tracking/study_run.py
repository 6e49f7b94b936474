"""The study run: a W&B run (job type `study`, in the study's group) that sums a study up.

Written when a sweep ends or is interrupted (one per `sweep run` or `sweep worker`), with the
whole study so far: a table of every trial with one column per parameter (what W&B's
parallel-coordinates and scatter panels plot), the optimization history (the metric and its
best so far against the trial number), parameter importances, and kept checkpoints as `model`
artifacts with the aliases `best` and `trial-<n>` (`--log-checkpoints best|all|none`).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.readout.trials import (
    TrialRecord,
    goal,
    is_multi_objective,
    ranked,
    ranked_records,
    records,
)
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.program_files import files_in
from torchsweep.sweeps.tracking.background import TrackingWarning, first_line
from torchsweep.sweeps.tracking.wandb_runs import Tracker
from torchsweep.trainer.goal import Goal

TRIALS_TABLE = "trials"
IMPORTANCES_TABLE = "parameter_importances"


def log_study_run(study: optuna.Study, spec: StudySpec, tracker: Tracker, *, root: Path,
                  sampler: str, storage_shown: str, log_checkpoints: str) -> None:
    """Never raises: the sweep's trials are recorded whatever happens to their summary.

    `tracker` is the one the sweep's trials used, so a W&B that failed them is not waited on
    again here."""
    run = tracker.start_wandb_run(
        Path(root) / spec.name, "study", name=f"{spec.name}-summary", group=spec.name,
        job_type="study", tags=[sampler],
        config={"study": spec.name, "metric": spec.metric, "goal": spec.goal.value,
                "sampler": sampler, "storage": storage_shown})
    if run is None:
        return
    try:
        ran = [trial for trial in records(study) if trial.state != "waiting"]  # queued: not run
        best_first = ranked_records(study)
        # Each part on its own: one that fails (an artifact that cannot be read) leaves the
        # others logged. A study without a metric has no history or importances to log.
        parts = {"trials": lambda: _log_trials(run, ran, spec.metric or "value"),
                 "checkpoints": lambda: _log_checkpoints(
                     run, best_first, attrs.kept_checkpoints(study), spec, Path(root),
                     log_checkpoints)}
        metric = spec.metric   # None for a study that ranks nothing
        if metric is not None:
            parts.update({
                "history": lambda: _log_history(run, ran, best_first, metric, goal(study)),
                "importances": lambda: _log_importances(run, study)})
        for part, log in parts.items():
            try:
                log()
            except Exception as error:
                warnings.warn(f"the W&B study run of {spec.name} has no {part} "
                              f"({first_line(error)})", TrackingWarning, stacklevel=2)
    except Exception as error:
        warnings.warn(f"the W&B study run of {spec.name} is incomplete ({first_line(error)})",
                      TrackingWarning, stacklevel=2)
    finally:
        try:
            run.finish()
        except Exception as error:
            warnings.warn(f"the W&B study run of {spec.name} did not finish "
                          f"({first_line(error)})", TrackingWarning, stacklevel=2)


def _log_trials(run, trials: list[TrialRecord], metric: str) -> None:
    import wandb

    params = list(dict.fromkeys(name for trial in trials for name in trial.params))
    columns: list[str | int] = ["trial", "state", "reason", metric, "epochs_run", "pruned_at", "duration_s",
               *params]
    data = [[t.number, t.state, t.reason, t.value, t.epochs_run, t.pruned_at, t.duration_s,
             *(t.params.get(name) for name in params)] for t in trials]
    # A parameter absent from some trials (momentum without sgd) is None there. Tables go in
    # the summary: logged, each would add its row and column counts to the history as charts.
    run.summary[TRIALS_TABLE] = wandb.Table(columns=columns, data=data, allow_mixed_types=True)
    counts = {f"trials_{state}": sum(t.state == state for t in trials)
              for state in ("completed", "pruned", "failed")}
    run.summary.update({"trials_total": len(trials), **counts})


def _log_history(run, trials: list[TrialRecord], best_first: list[TrialRecord], metric: str,
                 aim: Goal) -> None:
    best_key = f"best_{metric}"
    run.define_metric("trial")
    for key in (metric, best_key):
        run.define_metric(key, step_metric="trial")
    best: float | None = None
    for trial in trials:
        value = trial.value
        if trial.state != "completed" or value is None:
            continue
        if best is None or aim.better(value, best):
            best = value
        run.log({"trial": trial.number, metric: value, best_key: best})
    if best_first:
        run.summary.update({best_key: best_first[0].value, "best_trial": best_first[0].number})


def _log_checkpoints(run, best_first: list[TrialRecord], kept: dict[str, str], spec: StudySpec,
                     root: Path, which: str) -> None:
    import wandb

    chosen = {"best": best_first[:1], "all": best_first, "none": []}[which]
    for trial in (trial for trial in chosen if str(trial.number) in kept):
        artifact = wandb.Artifact(_artifact_name(spec.name), type="model", metadata={
            "trial": trial.number, **({spec.metric: trial.value} if spec.metric else {}),
            "params": trial.params})
        path = root / kept[str(trial.number)]   # best.pt, or a program's trial folder
        # A folder file by file: add_file refuses one, and add_dir prints to the terminal.
        files = {name: path / name for name in files_in(path)} if path.is_dir() \
            else {path.name: path}
        for name, file in files.items():
            artifact.add_file(str(file), name=name)
        aliases = [f"trial-{trial.number}"] + (["best"] if trial is best_first[0] else [])
        run.log_artifact(artifact, aliases=aliases)


def _artifact_name(study: str) -> str:
    # Artifact names allow letters, digits, '-', '_' and '.'; study names may hold more.
    return re.sub(r"[^A-Za-z0-9._-]", "-", study) + "-model"


def _log_importances(run, study: optuna.Study) -> None:
    import wandb

    if len(ranked(study)) < 2:
        return
    with warnings.catch_warnings():
        # With few trials Optuna warns that its ranking is flat; the values say so themselves.
        warnings.simplefilter("ignore", UserWarning)
        # A multi-objective study is ranked by its first objective, as everywhere here.
        importances = optuna.importance.get_param_importances(
            study, target=(lambda t: t.values[0]) if is_multi_objective(study) else None)
    if not importances:
        return
    run.summary[IMPORTANCES_TABLE] = wandb.Table(
        columns=["parameter", "importance"],
        data=[[name, float(value)] for name, value in importances.items()])
    run.summary.update({f"importance/{name}": float(value) for name, value in importances.items()})
