"""The sampler and pruner a study's settings name, built from Optuna's own."""
from __future__ import annotations

import warnings

import optuna

from torchsweep.sweeps.engine.repeats import WILCOXON_P
from torchsweep.sweeps.study import StudySpec

# CMA-ES optimises one objective; these optimise several (TPE and GP model a Pareto front).
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "random", "grid", "qmc", "gp")


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
    if name == "wilcoxon":   # a study with repeats: seed k of a trial against the best's seed k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return pruners.WilcoxonPruner(p_threshold=WILCOXON_P)
    # The first trials set the median; the first epochs of any trial are too noisy to judge.
    return pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
