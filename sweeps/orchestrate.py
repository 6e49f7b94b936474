"""Run a study: Optuna proposes settings, the training core trains them, the storage remembers.

`run_study` validates everything it can before it writes anything (an invalid study leaves no
storage and no folder behind), creates the study or continues it, and runs trials until the
requested count, the study's `run_cap`, its grid, its `metric.target` or the timeout ends it.
After every trial, checkpoint retention keeps the top-k trials' best checkpoints.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps import tracking
from sweeps.catalog import STUDY_FILE
from sweeps.errors import StudyError
from sweeps.objective import NullObserver, Objective, Observer
from sweeps.retention import retain_top_k
from sweeps.storage import mask_password, open_storage, storage_url
from sweeps.studyfile import StudySpec
from trainer.config import TrainConfig

DEFAULT_TRIALS = 20
DEFAULT_KEEP_TOP_K = 3
SPEC_ATTR = "spec"
FINGERPRINT_ATTR = "space_fingerprint"


@dataclass(frozen=True)
class RunOptions:
    root: Path
    storage: str | None = None
    trials: int | None = None
    timeout: float | None = None          # seconds
    sampler: str | None = None
    pruner: str | None = None
    seed: int = 0
    keep_top_k: int | None = None
    wandb: str | None = None
    wandb_project: str | None = None
    wandb_entity: str | None = None
    device: str | None = None
    max_failures: int = 3                 # consecutive failed trials before the sweep stops
    allow_space_change: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    study: optuna.Study
    storage_shown: str
    ran: int                               # trials this invocation ran
    kept: dict[int, str]                   # trial number -> kept best checkpoint


def run_study(spec: StudySpec, options: RunOptions, observer: Observer | None = None) -> Outcome:
    sampler_name = options.sampler or spec.sampler_name()
    pruner_name = options.pruner or spec.pruner_name()
    keep = options.keep_top_k or spec.keep_top_k or DEFAULT_KEEP_TOP_K
    overrides = dict(options.overrides)
    if options.device:
        overrides["device"] = options.device
    # Fail before touching the storage: fixed settings must form a valid config, a grid must
    # be finite.
    TrainConfig.from_dict({**spec.space.constants(), **overrides})
    grid = spec.space.grid() if sampler_name == "grid" else None

    url = storage_url(options.root, options.storage)
    shown = mask_password(url)
    storage = open_storage(url, create=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=spec.name, load_if_exists=True,
                                direction=spec.goal,
                                sampler=build_sampler(sampler_name, grid, options.seed),
                                pruner=build_pruner(pruner_name, spec))
    _record_space(study, spec, options)

    existing = len(study.get_trials(deepcopy=False))
    wanted = options.trials or spec.trials or (spec.space.grid_size() if grid else DEFAULT_TRIALS)
    if spec.run_cap is not None:
        wanted = min(wanted, max(spec.run_cap - existing, 0))
    if grid:
        # A grid runs each point once; continuing a study runs only the points left.
        wanted = min(wanted, max(spec.space.grid_size() - existing, 0))
    objective = Objective(spec=spec, root=Path(options.root), overrides=overrides,
                          wandb_mode=tracking.resolve_mode(options.wandb),
                          wandb_project=options.wandb_project, wandb_entity=options.wandb_entity,
                          storage_shown=shown, sampler_name=sampler_name,
                          observer=observer or NullObserver())
    callbacks = [lambda s, t: retain_top_k(s, options.root, keep),
                 _StopAtTarget(spec), _StopAfterFailures(options.max_failures)]
    if spec.run_cap is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(spec.run_cap, states=None))
    if wanted > 0:
        study.optimize(objective, n_trials=wanted, timeout=options.timeout, catch=(Exception,),
                       callbacks=callbacks)
    ran = len(study.get_trials(deepcopy=False)) - existing
    return Outcome(study=study, storage_shown=shown, ran=ran,
                   kept=retain_top_k(study, options.root, keep))


def build_sampler(name: str, grid: dict[str, list] | None, seed: int) -> optuna.samplers.BaseSampler:
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
    # Conditional parameters (momentum only for sgd, ...) need TPE's group decomposition,
    # which Optuna still labels experimental; the label is noise to a user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return samplers.TPESampler(seed=seed, multivariate=True, group=True)


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


class _StopAtTarget:
    """metric.target: stop the study once a completed trial reaches it."""

    def __init__(self, spec: StudySpec):
        self.target, self.maximize = spec.target, spec.goal == "maximize"

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.target is None or trial.state != TrialState.COMPLETE:
            return
        if (trial.value >= self.target) if self.maximize else (trial.value <= self.target):
            study.stop()


class _StopAfterFailures:
    """A sweep whose trials keep failing is broken: stop after `limit` failures in a row."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row = limit, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.in_a_row >= self.limit:
            study.stop()
