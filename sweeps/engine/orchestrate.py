"""Run a study: Optuna proposes settings, the training core trains them, the storage remembers.

`run_study` validates everything it can before it writes anything (an invalid study leaves no
storage and no folder behind), creates the study or continues it, queues the trials asked for
(bounded by the study's `run_cap` and its grid; see `trial_queue`) and works the queue with
one or more workers until it is empty, a callback stops it (`metric.target`, failures in a
row) or the timeout passes. `create_study` only creates and queues; `join_study` only works a
queue some other run created, from any machine that reaches the storage. After every trial,
checkpoint retention keeps the top-k trials' best checkpoints.

Launches race: two `sweep run` or `sweep create` of one study may start at the same moment on
any machine (see `space_record`).
"""
from __future__ import annotations

import functools
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import repeats, signals, trial_queue, workers
from torchsweep.sweeps.engine.artifacts import open_artifacts
from torchsweep.sweeps.engine.function import reference
from torchsweep.sweeps.engine.function.objective import FunctionObjective
from torchsweep.sweeps.engine.objective import NullObserver, Objective, Observer
from torchsweep.sweeps.engine.program.objective import ProgramObjective
from torchsweep.sweeps.engine.pruners import build_pruner, epoch_samples
from torchsweep.sweeps.engine.retention import retain_top_k
from torchsweep.sweeps.engine.retries import requeue_failed
from torchsweep.sweeps.engine.run_options import DEFAULT_KEEP_TOP_K, RunOptions
from torchsweep.sweeps.engine.samplers import build_sampler
from torchsweep.sweeps.engine.space_record import record_space
from torchsweep.sweeps.engine.stopping import StopAfterFailures, StopAtTarget
from torchsweep.sweeps.engine.trial_loop import Callback, LoopSettings, reconcile, work
from torchsweep.sweeps.errors import StorageLost, StudyError
from torchsweep.sweeps.readout.trials import STATE_NAMES, load_study
from torchsweep.sweeps.storage import DEFAULT_GRACE, mask_password, open_storage, storage_url
from torchsweep.sweeps.storage.doctor import persistence_warning
from torchsweep.sweeps.study import StudySpec, parse_study
from torchsweep.sweeps.study.choices import (
    SAMPLES,
    multi_objective_samplers,
    unranked_samplers,
    pruner_choice,
    sampler_choice,
)
from torchsweep.sweeps.study.command import DEFAULT_COMMAND
from torchsweep.sweeps.tracking.study_run import log_study_run
from torchsweep.sweeps.tracking.wandb_runs import Tracker, resolve_mode
from torchsweep.trainer.config import TrainConfig

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    study: optuna.Study
    storage_shown: str
    ran: int                               # trials this invocation's workers finished
    kept: dict[int, str]                   # trial number -> kept best checkpoint
    queued: int = 0                        # trials this invocation added to the queue
    budget: dict[str, Any] | None = None   # --budget: its limit, unit and what the run spent


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs, as values that pickle: it is sent to spawned processes. The
    spec was validated once, where the launch parsed it; a worker takes it as it is."""
    spec: StudySpec
    url: str
    root: Path
    sampler: str
    pruner: str
    seed: int | None
    keep: int
    overrides: dict[str, Any]
    wandb: str
    wandb_project: str | None
    wandb_entity: str | None
    max_failures: int
    loop: LoopSettings
    tensorboard: bool = False
    trial_timeout: float | None = None     # seconds a user's program may go without logging
    artifacts: str | None = None           # --artifacts: last.pt follows the trial
    job: str | None = None                 # the scheduler job the workers run in
    repeats: int = 1                       # seeds each configuration trains with
    storage_grace: float = DEFAULT_GRACE   # seconds to wait for an unreachable storage
    trainer: Callable[..., Any] | None = None   # RunOptions.trainer (picklable)
    # Study.run's function (in this process; cloudpickled for others), else the spec's import
    function: Callable[..., Any] | bytes | None = None

    def tracker(self) -> Tracker:
        return Tracker(self.wandb, self.wandb_project, self.wandb_entity, self.tensorboard,
                       study_project=self.spec.project, study_entity=self.spec.entity)


def run_study(spec: StudySpec, options: RunOptions, observer: Observer | None = None) -> Outcome:
    """Create or continue the study, queue the trials asked for, and work the queue."""
    with signals.stopping_on_signals():
        study, job, queued = _prepare(spec, options)
        ran = _work_and_sum_up(study, spec, job, options, observer)
        budget = job.loop.budget
        return Outcome(study=study, storage_shown=mask_password(job.url), ran=ran,
                       kept=_retain(study, spec, job), queued=queued,
                       budget=budget.report(study.get_trials(deepcopy=False)) if budget else None)


def create_study(spec: StudySpec, options: RunOptions) -> Outcome:
    """Create or continue the study and queue the trials asked for, for workers to run."""
    with signals.stopping_on_signals():
        study, job, queued = _prepare(spec, options)
        signals.check()
        return Outcome(study=study, storage_shown=mask_password(job.url), ran=0,
                       kept=_retain(study, spec, job), queued=queued)


def join_study(name: str, options: RunOptions, observer: Observer | None = None) -> Outcome:
    """Work the queue of a study that `sweep run` or `sweep create` made."""
    with signals.stopping_on_signals():
        study = load_study(name, options.root, options.storage, options.storage_grace)
        spec = reference.with_function(study_spec(study, name), options.function)
        job = _job(spec, options, {**attrs.shared_settings(study), **_given(options)})
        workers.check_gpus(options.gpus)
        _check_program(spec)
        reference.check(spec, job.function)
        ran = _work_and_sum_up(study, spec, job, options, observer)
        return Outcome(study=study, storage_shown=mask_password(job.url), ran=ran,
                       kept=_retain(study, spec, job))


def study_spec(study: optuna.Study, name: str) -> StudySpec:
    """The study as `sweep run` or `sweep create` recorded it, for workers to sample."""
    document = attrs.spec_document(study)
    if document is None:
        raise StudyError(f"study '{name}' was not made by `sweep run` or `sweep create`: "
                         "it has no search space to sample")
    return parse_study(document, name=name, source=f"study '{name}'")


def run_worker(job: WorkerJob, slot: workers.WorkerSlot,
               count_trial: Callable[[], None] = lambda: None,
               observer: Observer | None = None, tracker: Tracker | None = None) -> int:
    """One worker, in this process: open the study with this worker's sampler, claim and run
    queued trials until none is left. Returns how many it finished."""
    spec = job.spec
    # Workers must not share a seed: the same sampler state proposes the same settings.
    seed = None if job.seed is None else job.seed + slot.index
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=spec.name,
                              storage=open_storage(job.url, create=False, grace=job.storage_grace),
                              sampler=build_sampler(job.sampler, spec.space, seed),
                              pruner=build_pruner(job.pruner, spec, _epoch_samples(spec, job)))
    observer, tracker = observer or NullObserver(), tracker or job.tracker()
    objective: Objective | ProgramObjective | FunctionObjective
    if spec.function is not None:
        objective = FunctionObjective(spec=spec, root=Path(job.root), tracker=tracker,
                                      sampler_name=job.sampler, observer=observer,
                                      trial_timeout=job.trial_timeout, job=job.job,
                                      function=reference.load(spec, job.function))
    elif spec.runs_program:
        objective = ProgramObjective(spec=spec, root=Path(job.root), tracker=tracker,
                                     sampler_name=job.sampler, observer=observer,
                                     trial_timeout=job.trial_timeout, job=job.job)
    else:
        fixed = [*spec.space.parameters, *job.overrides]
        objective = Objective(spec=spec, root=Path(job.root),
                              overrides={**job.overrides, **slot.overrides(fixed)},
                              tracker=tracker, storage_shown=mask_password(job.url),
                              sampler_name=job.sampler, observer=observer,
                              artifacts=open_artifacts(job.artifacts) if job.artifacts else None,
                              job=job.job, repeats=job.repeats, trainer=job.trainer)
    callbacks: list[Callback] = [lambda s, t: _retain(s, spec, job), StopAtTarget(spec),
                 StopAfterFailures(job.max_failures), lambda s, t: count_trial(),
                 lambda s, t: observer.trial_finished(
                     t.number, STATE_NAMES[t.state],
                     t.values[0] if t.values and spec.ranked else None)]
    observer.planned(trial_queue.waiting(study.get_trials(deepcopy=False)), spec)
    return work(study, objective, job.loop, callbacks)


def _epoch_samples(spec: StudySpec, job: WorkerJob) -> int | None:
    """The pruner's unit (see `pruners`); not needed, and not counted, when the pruner's steps
    are not samples (it compares seeds, or never prunes)."""
    if pruner_choice(job.pruner).unit != SAMPLES:
        return None
    return epoch_samples(spec, job.overrides)


def _work_and_sum_up(study: optuna.Study, spec: StudySpec, job: WorkerJob, options: RunOptions,
                     observer: Observer | None) -> int:
    """Work the queue, then write the W&B study run, also when a signal ends the sweep (not
    when the storage is lost: there is nothing to read it from)."""
    tracker = job.tracker()
    try:
        slots = workers.plan_slots(options.workers, options.gpus, options.workers_per_gpu,
                                   workers.available_cpus())
        if workers.in_process(slots) if options.in_process is None else options.in_process:
            ran = run_worker(job, slots[0], observer=observer, tracker=tracker)
        else:
            ran = workers.run_processes(functools.partial(run_worker, job), slots)
    except StorageLost:
        raise
    except BaseException:
        _log_study_run(study, spec, job, tracker, options)
        raise
    _log_study_run(study, spec, job, tracker, options)
    return ran


def _log_study_run(study: optuna.Study, spec: StudySpec, job: WorkerJob, tracker: Tracker,
                   options: RunOptions) -> None:
    log_study_run(study, spec, tracker, root=job.root, sampler=job.sampler,
                  storage_shown=mask_password(job.url), log_checkpoints=options.log_checkpoints)


def _prepare(spec: StudySpec, options: RunOptions) -> tuple[optuna.Study, WorkerJob, int]:
    """Validate, create or load the study, record its space and settings, queue trials."""
    job = _job(spec, options, _given(options))
    grid = _check(spec, job, options)
    study, created = _create_or_load(spec, job)
    record_space(study, spec, Path(options.root), created,
                 allow_change=options.allow_space_change)
    _name_metrics(study, spec)
    job = _record_settings(study, spec, job, options)
    # Trials a crash left RUNNING are failed (and retried) first, so that --retry-failed and
    # --restart-failed see them too.
    reconcile(study, job.loop)
    if options.retry_failed or options.restart_failed:
        requeue_failed(study, resume=options.retry_failed)
    budget = job.loop.budget
    wanted = trial_queue.wanted(study, spec, options.trials,
                                options.retry_failed or options.restart_failed, grid,
                                by_workers=bool(budget and budget.queues))
    trial_queue.plan(study, wanted)
    return study, job, wanted


def _check(spec: StudySpec, job: WorkerJob, options: RunOptions) -> bool:
    """Fail before touching the storage: fixed settings must form a valid config, the pruner
    must take the study's eta, the GPUs must exist. Whether the sampler walks a grid."""
    if spec.own_code:
        _check_program(spec)
        reference.check(spec, job.function)
    else:
        TrainConfig.from_dict({**spec.space.constants(), **job.overrides})
    build_pruner(job.pruner, spec, _epoch_samples(spec, job))
    if spec.multi_objective and not sampler_choice(job.sampler).multi_objective:
        raise StudyError(f"sampler {job.sampler}: cannot optimise several metrics; use "
                         f"{', '.join(multi_objective_samplers())}")
    if not spec.ranked and sampler_choice(job.sampler).learns:
        raise StudyError(f"sampler {job.sampler}: learns from a metric, and the study has "
                         f"none; use {', '.join(unranked_samplers())}")
    workers.check_gpus(options.gpus)
    # A grid sampler's space must be a finite grid; one of constants only is no grid to walk.
    return sampler_choice(job.sampler).grid and bool(spec.space.grid())


def _name_metrics(study: optuna.Study, spec: StudySpec) -> None:
    """The objectives' names, as optuna-dashboard and plots call them."""
    names = [objective.name for objective in spec.objectives]
    if not names or study.metric_names == names:
        return
    with warnings.catch_warnings():   # experimental in Optuna 5, and noise to a user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            study.set_metric_names(names)
        except ValueError as error:   # an existing study of another metric count
            raise StudyError(f"study '{spec.name}' exists with other objectives ({error}); "
                             f"use a new study name") from None


def _record_settings(study: optuna.Study, spec: StudySpec, job: WorkerJob,
                     options: RunOptions) -> WorkerJob:
    """Record the settings every worker shares; the job, with the study's own repeats when it
    is continued without --repeats (means over different numbers of seeds do not compare)."""
    recorded = attrs.shared_settings(study).get("repeats")
    if options.repeats is None and recorded and recorded != job.repeats:
        job = _job(spec, options, {**_given(options), "repeats": recorded})
    attrs.record_settings(study, {"sampler": job.sampler, "pruner": job.pruner,
                                  "keep_top_k": job.keep, "wandb_project": job.wandb_project,
                                  "wandb_entity": job.wandb_entity, "repeats": job.repeats})
    return job


def _create_or_load(spec: StudySpec, job: WorkerJob) -> tuple[optuna.Study, bool]:
    """The study, and whether this launch created it (another may have, a moment before)."""
    storage = open_storage(job.url, create=True, grace=job.storage_grace)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    goals = [objective.goal.value for objective in spec.objectives] or [spec.goal.value]
    directions = [optuna.study.StudyDirection[goal.upper()] for goal in goals]
    sampler = optuna.samplers.RandomSampler()
    try:
        study = optuna.create_study(storage=storage, study_name=spec.name, directions=directions,
                                    sampler=sampler)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler)
        if [direction.name.lower() for direction in study.directions] != goals:
            raise StudyError(f"study '{spec.name}' exists with other objectives "
                             f"({', '.join(d.name.lower() for d in study.directions)}); use a "
                             f"new study name") from None
        return study, False
    problem = persistence_warning(job.url)
    if problem:
        _logger.warning("note: study '%s' is kept in %s, but %s", spec.name,
                        mask_password(job.url), problem)
    return study, True


def _given(options: RunOptions) -> dict[str, Any]:
    """The settings this invocation gives explicitly (they override recorded ones)."""
    given = {"sampler": options.sampler, "pruner": options.pruner,
             "keep_top_k": options.keep_top_k, "wandb_project": options.wandb_project,
             "wandb_entity": options.wandb_entity, "repeats": options.repeats}
    return {name: value for name, value in given.items() if value is not None}


def _job(spec: StudySpec, options: RunOptions, settings: dict[str, Any]) -> WorkerJob:
    overrides = dict(options.overrides)
    if options.device:
        overrides["device"] = options.device
    deadline = time.time() + options.timeout if options.timeout else None
    sampler = settings.get("sampler") or spec.sampler_name()
    budget = None
    if options.budget is not None:
        budget = options.budget.for_run(
            time.time(), _trial_epochs(spec, overrides),
            queues=options.trials is None and spec.run_cap is None
            and not sampler_choice(sampler).grid)
    if options.artifacts:
        open_artifacts(options.artifacts)   # refuse an unusable store before anything is written
    seeds = repeats.resolve(spec, settings.get("repeats"))
    return WorkerJob(
        spec=spec, url=storage_url(options.root, options.storage),
        root=Path(options.root), sampler=sampler,
        pruner=repeats.pruner(spec, settings.get("pruner"), seeds),
        seed=options.seed,
        keep=settings.get("keep_top_k") or spec.keep_top_k or DEFAULT_KEEP_TOP_K,
        overrides=overrides, wandb=resolve_mode(options.wandb),
        wandb_project=settings.get("wandb_project"), wandb_entity=settings.get("wandb_entity"),
        max_failures=options.max_failures,
        loop=LoopSettings(heartbeat=options.heartbeat, max_retries=options.max_retries,
                          deadline=deadline, budget=budget),
        tensorboard=options.tensorboard, trial_timeout=options.trial_timeout,
        artifacts=options.artifacts, job=options.job, repeats=seeds,
        storage_grace=options.storage_grace, function=options.given_function,
        trainer=options.trainer)


def _trial_epochs(spec: StudySpec, overrides: dict[str, Any]) -> int | None:
    """A whole trial's epochs, when every trial has the same; None for your own code (a
    program or a function), or when epochs are searched."""
    if spec.own_code or "epochs" in spec.space.parameters and \
            "epochs" not in spec.space.constants():
        return None
    return TrainConfig.from_dict({**spec.space.constants(), **overrides}).epochs


def _retain(study: optuna.Study, spec: StudySpec, job: WorkerJob) -> dict[int, str]:
    return retain_top_k(study, job.root, job.keep, whole_folders=spec.own_code)


def _check_program(spec: StudySpec) -> None:
    """W&B's agent runs `program:` from where the sweep runs; so do we. Refused before anything
    is written when it is not there."""
    if spec.program is not None and "${program}" in (spec.command or DEFAULT_COMMAND) \
            and not Path(spec.program).is_file():
        raise StudyError(f"program: {spec.program} is not a file in {Path.cwd()}; the program "
                         f"runs from where the sweep runs, as W&B's agent runs it, so start "
                         f"`sweep` there or give its path")
