"""`tpe`: Optuna's TPESampler, multivariate and grouped, with a constant liar."""
from __future__ import annotations

import warnings

import optuna

from torchsweep.sweeps.study import SearchSpace


def build(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    # Conditional parameters (momentum only for sgd, ...) need TPE's group decomposition, and
    # workers in parallel need its constant liar (running trials count as bad ones, so two
    # workers do not propose the same settings); Optuna still labels both experimental, and
    # the label is noise to a user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                          constant_liar=True)
