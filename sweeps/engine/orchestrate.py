"""Run a study: Optuna proposes settings, the training core trains them, the storage remembers.

`run_study` validates everything it can before it writes anything (an invalid study leaves no
storage and no folder behind), creates the study or continues it, queues the trials asked for
(bounded by the study's `run_cap` and its grid; see `sweeps.queue`) and works the queue with
one or more workers until it is empty, a callback stops it (`metric.target`, failures in a
row) or the timeout passes. `create_study` only creates and queues; `join_study` only works a
queue some other run created, from any machine that reaches the storage. After every trial,
checkpoint retention keeps the top-k trials' best checkpoints.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from torchsweep.sweeps.engine import signals
from torchsweep.sweeps.tracking import study_run as summary
from torchsweep.sweeps.tracking import wandb_runs as tracking
from torchsweep.sweeps.engine import trial_queue
from torchsweep.sweeps.engine import workers
from torchsweep.sweeps.study.catalog import STUDY_FILE
from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.engine.heartbeat import DEFAULT_INTERVAL
from torchsweep.sweeps.engine.objective import NullObserver, Objective, Observer
from torchsweep.sweeps.engine.retention import ranked, retain_top_k
from torchsweep.sweeps.engine.retries import requeue_failed
from torchsweep.sweeps.storage import mask_password, open_storage, storage_url
from torchsweep.sweeps.study.studyfile import StudySpec, parse_study
from torchsweep.sweeps.engine.trial_loop import LoopSettings, reconcile, work
from torchsweep.trainer.config import TrainConfig

DEFAULT_TRIALS = 20
DEFAULT_KEEP_TOP_K = 3
DEFAULT_MAX_RETRIES = 3
SPEC_ATTR = "spec"
FINGERPRINT_ATTR = "space_fingerprint"
SETTINGS_ATTR = "settings"     # what workers joining from other machines must share


@dataclass(frozen=True)
class RunOptions:
    root: Path
    storage: str | None = None
    trials: int | None = None
    timeout: float | None = None          # seconds
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = 0                  # None: a random seed (workers joining a study)
    keep_top_k: int | None = None
    wandb: str | None = None
    wandb_project: str | None = None
    wandb_entity: str | None = None
    device: str | None = None
    max_failures: int = 3                 # consecutive failed trials before a worker stops
    allow_space_change: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    workers: int = 1                      # local worker processes
    gpus: tuple[str, ...] = ()            # one worker per GPU (times workers_per_gpu)
    workers_per_gpu: int = 1
    max_retries: int = DEFAULT_MAX_RETRIES  # retries of a trial whose worker died or stopped
    heartbeat: float = DEFAULT_INTERVAL   # seconds between a running trial's heartbeats
    retry_failed: bool = False            # queue failed trials again, resuming their checkpoints
    restart_failed: bool = False          # queue failed trials again, from epoch 0
    log_checkpoints: str = "best"         # kept checkpoints as W&B artifacts: best | all | none
    tensorboard: bool = False             # TensorBoard event files in each trial's folder


@dataclass
class Outcome:
    study: optuna.Study
    storage_shown: str
    ran: int                               # trials this invocation's workers finished
    kept: dict[int, str]                   # trial number -> kept best checkpoint
    queued: int = 0                        # trials this invocation added to the queue


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs, as plain values: it is pickled to spawned processes."""
    spec: dict[str, Any]                   # StudySpec.to_dict()
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


def run_study(spec: StudySpec, options: RunOptions, observer: Observer | None = None) -> Outcome:
    """Create or continue the study, queue the trials asked for, and work the queue."""
    with signals.stopping_on_signals():
        study, job, queued = _prepare(spec, options)
        try:
            ran = _work(job, options, observer)
        finally:  # a sweep that a signal ends gets its W&B study run too
            summary.log_study_run(study, spec, job, options.log_checkpoints)
        return Outcome(study=study, storage_shown=mask_password(job.url), ran=ran,
                       kept=retain_top_k(study, options.root, job.keep), queued=queued)


def create_study(spec: StudySpec, options: RunOptions) -> Outcome:
    """Create or continue the study and queue the trials asked for, for workers to run."""
    with signals.stopping_on_signals():
        study, job, queued = _prepare(spec, options)
        signals.check()
        return Outcome(study=study, storage_shown=mask_password(job.url), ran=0,
                       kept=retain_top_k(study, options.root, job.keep), queued=queued)


def join_study(name: str, options: RunOptions, observer: Observer | None = None) -> Outcome:
    """Work the queue of a study that `sweep run` or `sweep create` made."""
    from torchsweep.sweeps.readout.trials import load_study

    with signals.stopping_on_signals():
        study = load_study(name, options.root, options.storage)
        if SPEC_ATTR not in study.user_attrs:
            raise StudyError(f"study '{name}' was not made by `sweep run` or `sweep create`: "
                             "it has no search space to sample")
        spec = parse_study(study.user_attrs[SPEC_ATTR], name=name, source=f"study '{name}'")
        settings = study.user_attrs.get(SETTINGS_ATTR, {})
        job = _job(spec, options, {**settings, **_given(options)})
        workers.check_gpus(options.gpus)
        try:
            ran = _work(job, options, observer)
        finally:  # a sweep that a signal ends gets its W&B study run too
            summary.log_study_run(study, spec, job, options.log_checkpoints)
        return Outcome(study=study, storage_shown=mask_password(job.url), ran=ran,
                       kept=retain_top_k(study, options.root, job.keep))


def run_worker(job: WorkerJob, slot: workers.WorkerSlot,
               count_trial: Callable[[], None] = lambda: None,
               observer: Observer | None = None) -> int:
    """One worker, in this process: open the study with this worker's sampler, claim and run
    queued trials until none is left. Returns how many it finished."""
    spec = parse_study(job.spec, name=job.spec["name"], source=f"study '{job.spec['name']}'")
    grid = spec.space.grid() if job.sampler == "grid" else None
    # Workers must not share a seed: the same sampler state proposes the same settings.
    seed = None if job.seed is None else job.seed + slot.index
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(job.url, create=False),
                              sampler=build_sampler(job.sampler, grid, seed),
                              pruner=build_pruner(job.pruner, spec))
    fixed = [*spec.space.parameters, *job.overrides]
    objective = Objective(spec=spec, root=Path(job.root),
                          overrides={**job.overrides, **slot.overrides(fixed)},
                          wandb_mode=job.wandb, wandb_project=job.wandb_project,
                          wandb_entity=job.wandb_entity, storage_shown=mask_password(job.url),
                          sampler_name=job.sampler, observer=observer or NullObserver(),
                          tensorboard=job.tensorboard)
    callbacks = [lambda s, t: retain_top_k(s, job.root, job.keep), _StopAtTarget(spec),
                 _StopAfterFailures(job.max_failures), lambda s, t: count_trial()]
    return work(study, objective, job.loop, callbacks)


def _prepare(spec: StudySpec, options: RunOptions) -> tuple[optuna.Study, WorkerJob, int]:
    """Validate, create or load the study, record its space and settings, queue trials."""
    job = _job(spec, options, _given(options))
    # Fail before touching the storage: fixed settings must form a valid config, a grid must
    # be finite, the GPUs must exist.
    TrainConfig.from_dict({**spec.space.constants(), **job.overrides})
    workers.check_gpus(options.gpus)
    grid = spec.space.grid() if job.sampler == "grid" else None

    storage = open_storage(job.url, create=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=spec.name, load_if_exists=True,
                                direction=spec.goal, sampler=optuna.samplers.RandomSampler())
    _record_space(study, spec, options)
    _record(study, SETTINGS_ATTR, {"sampler": job.sampler, "pruner": job.pruner,
                                   "keep_top_k": job.keep, "wandb_project": job.wandb_project,
                                   "wandb_entity": job.wandb_entity})
    # Trials a crash left RUNNING are failed (and retried) first, so that --retry-failed and
    # --restart-failed see them too.
    reconcile(study, job.loop)
    if options.retry_failed or options.restart_failed:
        requeue_failed(study, resume=options.retry_failed)

    trials = study.get_trials(deepcopy=False)
    existing = trial_queue.counted(trials)
    if options.trials is not None:
        wanted = options.trials
    elif trial_queue.planned_waiting(trials) or options.retry_failed or options.restart_failed:
        wanted = 0   # finish what an interrupted run left, or what was requeued: add none
    else:
        wanted = spec.trials or (spec.space.grid_size() if grid else DEFAULT_TRIALS)
    if spec.run_cap is not None:
        wanted = min(wanted, max(spec.run_cap - existing, 0))
    if grid:
        # A grid runs each point once; continuing a study runs only the points left.
        wanted = min(wanted, max(spec.space.grid_size() - existing, 0))
    trial_queue.plan(study, wanted)
    return study, job, wanted


def _given(options: RunOptions) -> dict[str, Any]:
    """The settings this invocation gives explicitly (they override recorded ones)."""
    given = {"sampler": options.sampler, "pruner": options.pruner,
             "keep_top_k": options.keep_top_k, "wandb_project": options.wandb_project,
             "wandb_entity": options.wandb_entity}
    return {name: value for name, value in given.items() if value is not None}


def _job(spec: StudySpec, options: RunOptions, settings: dict[str, Any]) -> WorkerJob:
    overrides = dict(options.overrides)
    if options.device:
        overrides["device"] = options.device
    deadline = time.time() + options.timeout if options.timeout else None
    return WorkerJob(
        spec=spec.to_dict(), url=storage_url(options.root, options.storage),
        root=Path(options.root), sampler=settings.get("sampler") or spec.sampler_name(),
        pruner=settings.get("pruner") or spec.pruner_name(), seed=options.seed,
        keep=settings.get("keep_top_k") or spec.keep_top_k or DEFAULT_KEEP_TOP_K,
        overrides=overrides, wandb=tracking.resolve_mode(options.wandb),
        wandb_project=settings.get("wandb_project"), wandb_entity=settings.get("wandb_entity"),
        max_failures=options.max_failures,
        loop=LoopSettings(heartbeat=options.heartbeat, max_retries=options.max_retries,
                          deadline=deadline),
        tensorboard=options.tensorboard)


def _work(job: WorkerJob, options: RunOptions, observer: Observer | None) -> int:
    slots = workers.plan_slots(options.workers, options.gpus, options.workers_per_gpu,
                               workers.available_cpus())
    if workers.in_process(slots):
        return run_worker(job, slots[0], observer=observer)
    return workers.run_processes(functools.partial(run_worker, job), slots)


def build_sampler(name: str, grid: dict[str, list] | None,
                  seed: int | None) -> optuna.samplers.BaseSampler:
    samplers = optuna.samplers
    if name == "grid":
        return samplers.GridSampler(grid, seed=seed)
    if name == "random":
        return samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return samplers.CmaEsSampler(seed=seed)
    if name == "qmc":
        return samplers.QMCSampler(seed=seed)
    if name == "gp":
        return samplers.GPSampler(seed=seed)
    # Conditional parameters (momentum only for sgd, ...) need TPE's group decomposition, and
    # workers in parallel need its constant liar (running trials count as bad ones, so two
    # workers do not propose the same settings); Optuna still labels both experimental, and
    # the label is noise to a user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def build_pruner(name: str, spec: StudySpec) -> optuna.pruners.BasePruner:
    pruners = optuna.pruners
    hyperband = spec.early_terminate or {}
    if name == "hyperband":
        return pruners.HyperbandPruner(min_resource=hyperband.get("min_iter", 1),
                                       reduction_factor=hyperband.get("eta", 3))
    if name == "successive_halving":
        return pruners.SuccessiveHalvingPruner(min_resource=hyperband.get("min_iter", 1),
                                               reduction_factor=hyperband.get("eta", 3))
    if name == "none":
        return pruners.NopPruner()
    # The first trials set the median; the first epochs of any trial are too noisy to judge.
    return pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)


def _record_space(study: optuna.Study, spec: StudySpec, options: RunOptions) -> None:
    """Remember the space a study was created with; refuse a changed one unless allowed."""
    recorded = study.user_attrs.get(FINGERPRINT_ATTR)
    fingerprint = spec.space.fingerprint()
    if recorded is not None and recorded != fingerprint and not options.allow_space_change:
        raise StudyError(f"study '{spec.name}' was created with a different search space; "
                         "use a new study name, or pass --allow-space-change to continue it")
    if recorded != fingerprint or SPEC_ATTR not in study.user_attrs:
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        study.set_user_attr(SPEC_ATTR, spec.to_dict())
        folder = Path(options.root) / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        import yaml

        (folder / STUDY_FILE).write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))


def _record(study: optuna.Study, name: str, value: Any) -> None:
    if study.user_attrs.get(name) != value:
        study.set_user_attr(name, value)


class _StopAtTarget:
    """metric.target: stop once any completed trial of the study, from any worker, reaches it."""

    def __init__(self, spec: StudySpec):
        self.target, self.maximize = spec.target, spec.goal == "maximize"

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.target is None:
            return
        best = ranked(study)[:1]
        if best and ((best[0].value >= self.target) if self.maximize
                     else (best[0].value <= self.target)):
            study.stop()


class _StopAfterFailures:
    """A sweep whose trials keep failing is broken: a worker stops after `limit` failures in a
    row (its own trials; out-of-memory and diverged trials are pruned, not failed)."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row = limit, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.in_a_row >= self.limit:
            study.stop()
