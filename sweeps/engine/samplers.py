"""The sampler a study's settings name, built from Optuna's own."""
from __future__ import annotations

import warnings

import optuna

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

