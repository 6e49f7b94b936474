"""Commands that define and run studies: `run`, `create`, `worker`, `space`, `doctor` (is the
storage fit to keep them) and `list`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from torchsweep.cli import output
from torchsweep.cli.progress import progress_view
from torchsweep.cli.parameters import (
    DEFAULT_LOG_CHECKPOINTS,
    AllowSpaceChangeOption,
    ArtifactsOption,
    BudgetOption,
    DeviceOption,
    FunctionOption,
    GpusOption,
    HeartbeatOption,
    JsonOption,
    KeepTopKOption,
    LogCheckpointsOption,
    MaxFailuresOption,
    MaxRetriesOption,
    ParamOption,
    PrunerOption,
    PruneWithinOption,
    RepeatsOption,
    RestartFailedOption,
    RetryFailedOption,
    RootOption,
    SamplerOption,
    SetOption,
    StorageGraceOption,
    StorageOption,
    StudySource,
    TensorBoardOption,
    TimeoutOption,
    TrialsOption,
    TrialTimeoutOption,
    WandbEntityOption,
    WandbOption,
    WandbProjectOption,
    WorkersOption,
    WorkersPerGpuOption,
    budget,
    root,
    value,
    word,
)
from torchsweep.sweeps.engine import run_options as defaults


app = typer.Typer()


@app.command()
def run(
    study: StudySource,
    param: ParamOption = [],
    set_: SetOption = [],
    trials: TrialsOption = None,
    repeats: RepeatsOption = None,
    timeout: TimeoutOption = None,
    budget_: BudgetOption = None,
    sampler: SamplerOption = None,
    pruner: PrunerOption = None,
    prune_within: PruneWithinOption = None,
    seed: int = typer.Option(defaults.DEFAULT_SEED, "--seed", min=0,
                             help="Sampler seed (local worker k: seed + k)."),
    root_: RootOption = None,
    storage: StorageOption = None,
    keep_top_k: KeepTopKOption = None,
    wandb: WandbOption = None,
    wandb_project: WandbProjectOption = None,
    wandb_entity: WandbEntityOption = None,
    log_checkpoints: LogCheckpointsOption = DEFAULT_LOG_CHECKPOINTS,
    tensorboard: TensorBoardOption = False,
    artifacts: ArtifactsOption = None,
    device: DeviceOption = None,
    max_failures: MaxFailuresOption = defaults.DEFAULT_MAX_FAILURES,
    allow_space_change: AllowSpaceChangeOption = False,
    retry_failed: RetryFailedOption = False,
    restart_failed: RestartFailedOption = False,
    workers: WorkersOption = 1,
    gpus: GpusOption = None,
    workers_per_gpu: WorkersPerGpuOption = 1,
    max_retries: MaxRetriesOption = defaults.DEFAULT_MAX_RETRIES,
    heartbeat: HeartbeatOption = defaults.DEFAULT_HEARTBEAT,
    trial_timeout: TrialTimeoutOption = None,
    storage_grace: StorageGraceOption = defaults.DEFAULT_GRACE,
    function: FunctionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or continue a study, queue its trials and run them, pruning the ones that fall
    behind. Run it again after a crash or Ctrl+C: it continues where it stopped."""
    from torchsweep.sweeps.engine.orchestrate import run_study

    folder = root(root_)
    spec = _resolve(study, folder, param, set_, as_json, repeats, value(pruner), prune_within,
                    function)
    options = defaults.RunOptions(
        root=folder, storage=storage, trials=trials, timeout=timeout, budget=budget(budget_),
        sampler=value(sampler),
        pruner=value(pruner), seed=seed, keep_top_k=keep_top_k, wandb=value(wandb),
        wandb_project=wandb_project, wandb_entity=wandb_entity, device=device,
        max_failures=max_failures, allow_space_change=allow_space_change,
        max_retries=max_retries, heartbeat=heartbeat, log_checkpoints=word(log_checkpoints),
        tensorboard=tensorboard, trial_timeout=trial_timeout, artifacts=artifacts,
        repeats=repeats, storage_grace=storage_grace, **_requeue(retry_failed, restart_failed),
        **_local_workers(workers, gpus, workers_per_gpu))
    if as_json:
        outcome = run_study(spec, options)
    else:
        with progress_view() as view:
            outcome = run_study(spec, options, observer=view)
    _print_outcome(outcome, spec.name, folder, as_json)


@app.command()
def create(
    study: StudySource,
    param: ParamOption = [],
    set_: SetOption = [],
    trials: TrialsOption = None,
    repeats: RepeatsOption = None,
    sampler: SamplerOption = None,
    pruner: PrunerOption = None,
    prune_within: PruneWithinOption = None,
    root_: RootOption = None,
    storage: StorageOption = None,
    keep_top_k: KeepTopKOption = None,
    wandb_project: WandbProjectOption = None,
    wandb_entity: WandbEntityOption = None,
    allow_space_change: AllowSpaceChangeOption = False,
    retry_failed: RetryFailedOption = False,
    restart_failed: RestartFailedOption = False,
    storage_grace: StorageGraceOption = defaults.DEFAULT_GRACE,
    function: FunctionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or continue a study and queue its trials, for `sweep worker` on any machine."""
    from torchsweep.sweeps.engine.orchestrate import create_study

    folder = root(root_)
    spec = _resolve(study, folder, param, set_, as_json, repeats, value(pruner), prune_within,
                    function)
    options = defaults.RunOptions(
        root=folder, storage=storage, trials=trials, sampler=value(sampler),
        pruner=value(pruner), keep_top_k=keep_top_k, wandb_project=wandb_project,
        wandb_entity=wandb_entity, allow_space_change=allow_space_change, repeats=repeats,
        storage_grace=storage_grace, **_requeue(retry_failed, restart_failed))
    outcome = create_study(spec, options)
    if as_json:
        output.json_object({"study": spec.name, "storage": outcome.storage_shown,
                             "queued": outcome.queued})
    else:
        output.queued(spec.name, outcome.queued, outcome.storage_shown)


@app.command()
def worker(
    study: str = typer.Argument(..., help="A study that `sweep run` or `sweep create` made."),
    root_: RootOption = None,
    storage: StorageOption = None,
    timeout: TimeoutOption = None,
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Sampler seed (default: "
                                       "random, so that workers on several machines differ)."),
    wandb: WandbOption = None,
    log_checkpoints: LogCheckpointsOption = DEFAULT_LOG_CHECKPOINTS,
    tensorboard: TensorBoardOption = False,
    artifacts: ArtifactsOption = None,
    device: DeviceOption = None,
    max_failures: MaxFailuresOption = defaults.DEFAULT_MAX_FAILURES,
    workers: WorkersOption = 1,
    gpus: GpusOption = None,
    workers_per_gpu: WorkersPerGpuOption = 1,
    max_retries: MaxRetriesOption = defaults.DEFAULT_MAX_RETRIES,
    heartbeat: HeartbeatOption = defaults.DEFAULT_HEARTBEAT,
    trial_timeout: TrialTimeoutOption = None,
    storage_grace: StorageGraceOption = defaults.DEFAULT_GRACE,
    function: FunctionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Join a study from this machine: run trials from its queue until none is queued or
    running, retrying those whose worker died."""
    from torchsweep.sweeps.engine.orchestrate import join_study

    folder = root(root_)
    options = defaults.RunOptions(
        root=folder, storage=storage, timeout=timeout, seed=seed, wandb=value(wandb),
        device=device, max_failures=max_failures, max_retries=max_retries,
        heartbeat=heartbeat, log_checkpoints=word(log_checkpoints), tensorboard=tensorboard,
        trial_timeout=trial_timeout, artifacts=artifacts, storage_grace=storage_grace,
        function=function, **_local_workers(workers, gpus, workers_per_gpu))
    if as_json:
        outcome = join_study(study, options)
    else:
        with progress_view() as view:
            outcome = join_study(study, options, observer=view)
    _print_outcome(outcome, study, folder, as_json)


@app.command()
def space(
    study: StudySource,
    param: ParamOption = [],
    set_: SetOption = [],
    root_: RootOption = None,
    function: FunctionOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the study as JSON."),
) -> None:
    """Print and validate a study's resolved search space."""
    # its notices too, as `run`'s
    spec = _resolve(study, root(root_), param, set_, as_json, function=function)
    if as_json:
        output.json_object(spec.to_dict())
    else:
        output.space_table(spec)


@app.command()
def doctor(
    root_: RootOption = None,
    storage: StorageOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check a storage: the connection, Optuna's schema, whether the server keeps studies
    across a restart, and this machine's clock against the server's."""
    from torchsweep.sweeps.errors import StorageError
    from torchsweep.sweeps.storage import storage_url
    from torchsweep.sweeps.storage.doctor import FAIL, diagnose

    checks = diagnose(storage_url(root(root_), storage))
    output.storage_checks(checks, as_json)
    failed = [f"{check.name}: {check.detail}" for check in checks if check.status == FAIL]
    if failed:
        raise StorageError("; ".join(failed))


@app.command(name="list")
def list_(
    root_: RootOption = None,
    storage: StorageOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Bundled studies, and the studies in the storage with their trial counts and best value."""
    from torchsweep.sweeps.readout.trials import list_studies
    from torchsweep.sweeps.study import bundled_names

    studies = list_studies(root(root_), storage)
    if as_json:
        output.json_object({"bundled": bundled_names(),
                            "studies": [study.to_dict() for study in studies]})
    else:
        output.studies_table(bundled_names(), studies)


def _resolve(study: str, folder: Path, param: List[str], set_: List[str], as_json: bool,
             repeats: Optional[int] = None, pruner: Optional[str] = None,
             prune_within: Optional[str] = None, function: Optional[str] = None):
    from torchsweep.sweeps.engine.repeats import replaced_pruner
    from torchsweep.sweeps.study import resolve

    spec = resolve(study, folder, param, set_, prune_within, function)
    notices = [*spec.notices(), replaced_pruner(spec, pruner, repeats or spec.repeats or 1)]
    for notice in notices if not as_json else ():
        if notice:
            output.notice(f"{spec.source}: {notice}")
    return spec


def _requeue(retry_failed: bool, restart_failed: bool) -> dict:
    if retry_failed and restart_failed:
        raise typer.BadParameter("give one of --retry-failed and --restart-failed",
                                 param_hint="'--restart-failed'")
    return {"retry_failed": retry_failed, "restart_failed": restart_failed}


def _local_workers(workers: int, gpus: Optional[str], workers_per_gpu: int) -> dict:
    from torchsweep.sweeps.engine.workers import parse_gpus

    if gpus and workers != 1:
        raise typer.BadParameter("with --gpus there is one worker per GPU; use "
                                 "--workers-per-gpu to run more", param_hint="'--workers'")
    if workers_per_gpu != 1 and not gpus:
        raise typer.BadParameter("needs --gpus", param_hint="'--workers-per-gpu'")
    return {"workers": workers, "gpus": parse_gpus(gpus) if gpus else (),
            "workers_per_gpu": workers_per_gpu}


def _print_outcome(outcome, study: str, folder: Path, as_json: bool) -> None:
    from torchsweep.sweeps import attrs
    from torchsweep.sweeps.readout.trials import best_record, ranked_records, records
    from torchsweep.sweeps.study.program_files import saved_by_program

    trials = records(outcome.study)
    if as_json:
        best = best_record(outcome.study)
        output.json_object({"study": study, "storage": outcome.storage_shown,
                             "ran": outcome.ran, "trials": [t.to_dict() for t in trials],
                             "best": best.to_dict() if best else None,
                             "kept_checkpoints": outcome.kept,
                             **({"budget": outcome.budget} if outcome.budget else {})})
    else:
        saved = [name for path in outcome.kept.values()
                 for name in saved_by_program(folder / path)] \
            if attrs.runs_program(outcome.study) else None
        output.top_trials(study, trials, ranked_records(outcome.study),
                          attrs.metric_name(outcome.study), outcome.kept, saved)
        if outcome.budget:
            output.budget_spent(outcome.budget)
