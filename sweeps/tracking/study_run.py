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
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from torchsweep.sweeps.tracking.background import TrackingWarning, first_line
from torchsweep.sweeps.engine.objective import PARAMS_ATTR
from torchsweep.sweeps.engine.retention import CHECKPOINTS_ATTR, ranked
from torchsweep.sweeps.storage import mask_password
from torchsweep.sweeps.study.studyfile import StudySpec
from torchsweep.sweeps.tracking.wandb_runs import Tracker

if TYPE_CHECKING:
    from torchsweep.sweeps.engine.orchestrate import WorkerJob

TRIALS_TABLE = "trials"
IMPORTANCES_TABLE = "parameter_importances"


def log_study_run(study: optuna.Study, spec: StudySpec, job: WorkerJob,
                  log_checkpoints: str) -> None:
    """Never raises: the sweep's trials are recorded whatever happens to their summary."""
    tracker = Tracker(job.wandb, job.wandb_project, job.wandb_entity)
    run = tracker.start_wandb_run(
        Path(job.root) / spec.name, "study", name=f"{spec.name}-summary", group=spec.name,
        job_type="study", tags=[job.sampler],
        config={"study": spec.name, "metric": spec.metric, "goal": spec.goal,
                "sampler": job.sampler, "storage": mask_password(job.url)})
    if run is None:
        return
    try:
        _log_trials(run, study, spec.metric)
        _log_history(run, study, spec.metric)
        _log_checkpoints(run, study, spec, Path(job.root), log_checkpoints)
        _log_importances(run, study)
    except Exception as error:
        warnings.warn(f"the W&B study run of {spec.name} is incomplete ({first_line(error)})",
                      TrackingWarning, stacklevel=2)
    finally:
        try:
            run.finish()
        except Exception as error:
            warnings.warn(f"the W&B study run of {spec.name} did not finish "
                          f"({first_line(error)})", TrackingWarning, stacklevel=2)


def _log_trials(run, study: optuna.Study, metric: str) -> None:
    import wandb

    # results reads orchestrate's study attributes, and orchestrate calls this module.
    from torchsweep.sweeps.readout.trials import trial_rows

    rows = [row for row in trial_rows(study) if row.state != "waiting"]   # queued, not run
    params = list(dict.fromkeys(name for row in rows for name in row.params))
    columns = ["trial", "state", "reason", metric, "epochs_run", "pruned_at", "duration_s",
               *params]
    data = [[row.number, row.state, row.reason, row.value, row.epochs_run, row.pruned_at,
             row.duration_s, *(row.params.get(name) for name in params)] for row in rows]
    # A parameter absent from some trials (momentum without sgd) is None there.
    run.log({TRIALS_TABLE: wandb.Table(columns=columns, data=data, allow_mixed_types=True)})
    counts = {f"trials_{state}": sum(row.state == state for row in rows)
              for state in ("completed", "pruned", "failed")}
    run.summary.update({"trials_total": len(rows), **counts})


def _log_history(run, study: optuna.Study, metric: str) -> None:
    best_key = f"best_{metric}"
    run.define_metric("trial")
    for key in (metric, best_key):
        run.define_metric(key, step_metric="trial")
    best = None
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if best is None or (trial.value > best if maximize else trial.value < best):
            best = trial.value
        run.log({"trial": trial.number, metric: trial.value, best_key: best})
    top = ranked(study)
    if top:
        run.summary.update({best_key: top[0].value, "best_trial": top[0].number})


def _log_checkpoints(run, study: optuna.Study, spec: StudySpec, root: Path, which: str) -> None:
    import wandb

    kept = study.user_attrs.get(CHECKPOINTS_ATTR, {})
    ranking = ranked(study)
    chosen = {"best": ranking[:1], "all": ranking, "none": []}[which]
    for trial in (trial for trial in chosen if str(trial.number) in kept):
        artifact = wandb.Artifact(_artifact_name(spec.name), type="model",
                                  metadata=_checkpoint_metadata(trial, spec.metric))
        artifact.add_file(str(root / kept[str(trial.number)]))
        aliases = [f"trial-{trial.number}"] + (["best"] if trial is ranking[0] else [])
        run.log_artifact(artifact, aliases=aliases)


def _checkpoint_metadata(trial, metric: str) -> dict[str, Any]:
    return {"trial": trial.number, metric: trial.value,
            "params": trial.user_attrs.get(PARAMS_ATTR, trial.params)}


def _artifact_name(study: str) -> str:
    # Artifact names allow letters, digits, '-', '_' and '.'; study names may hold more.
    return re.sub(r"[^A-Za-z0-9._-]", "-", study) + "-model"


def _log_importances(run, study: optuna.Study) -> None:
    import wandb

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return
    with warnings.catch_warnings():
        # With few trials Optuna warns that its ranking is flat; the values say so themselves.
        warnings.simplefilter("ignore", UserWarning)
        importances = optuna.importance.get_param_importances(study)
    if not importances:
        return
    table = wandb.Table(columns=["parameter", "importance"],
                        data=[[name, float(value)] for name, value in importances.items()])
    run.log({IMPORTANCES_TABLE: wandb.plot.bar(table, "parameter", "importance",
                                               title="parameter importances")})
    run.summary.update({f"importance/{name}": float(value) for name, value in importances.items()})
