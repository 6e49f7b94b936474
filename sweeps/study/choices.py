"""The words a study may use for its method, sampler, pruner and goal, each with what it means.

One table each, read by everything that names them: a study file's check, the CLI's choices,
`sweep space`, the manual (tests/test_choices.py holds docs/studies.md to these tables) and the
engine, whose factories (`engine/pruners/`, `engine/samplers/`) are keyed by the same names.
Optuna-free, so the study layer and the CLI read it without importing Optuna. A new pruner or
sampler is one module of its name in the engine's folder and one line here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, TypeVar

from torchsweep.sweeps.errors import SpaceError
from torchsweep.trainer.goal import Goal

Choice = TypeVar("Choice")

# What a pruner's steps count: the training samples seen (a user's program: its own steps),
# or a configuration's seeds (repeats); a pruner that never prunes has no unit.
SAMPLES = "samples"
SEEDS = "seeds"


@dataclass(frozen=True)
class PrunerChoice:
    unit: str | None    # SAMPLES, SEEDS or None
    doc: str


@dataclass(frozen=True)
class SamplerChoice:
    doc: str
    multi_objective: bool = True   # proposes for several metrics at once (a Pareto front)
    grid: bool = False             # walks the study's grid, each point once: it must be finite
    learns: bool = True            # proposes from the trials' values: it needs a metric


PRUNERS: dict[str, PrunerChoice] = {
    "median": PrunerChoice(SAMPLES, "stops a trial below the median of the earlier trials at "
                                    "the same step (after 3 trials, and 2 epochs into each)"),
    "hyperband": PrunerChoice(SAMPLES, "successive halving in several brackets, from min_iter "
                                       "epochs to the study's most (W&B's early_terminate)"),
    "successive_halving": PrunerChoice(SAMPLES, "keeps the best 1/eta of the trials at min_iter "
                                                "epochs, then at eta times that, ..."),
    "wandb_hyperband": PrunerChoice(SAMPLES, "W&B's own hyperband bands, min_iter * eta^k "
                                             "epochs (any eta above 1): a trial worse than "
                                             "the best 1/eta of those at its band stops"),
    "wilcoxon": PrunerChoice(SEEDS, "stops a configuration whose seeds lose to the best one's, "
                                    "seed for seed (p < 0.1): a study with repeats only"),
    "none": PrunerChoice(None, "every trial runs to its end"),
}
# Successive halving ended as high as the median pruner in fewer epochs (bench/RESULTS.md,
# "Search at the budget, and the default pruner").
DEFAULT_PRUNER = "successive_halving"
EARLY_TERMINATE_PRUNER = "hyperband"   # W&B's early_terminate: {type: hyperband}
WANDB_HYPERBAND_PRUNER = "wandb_hyperband"   # the same with a fractional eta
REPEATS_PRUNER = "wilcoxon"            # the default with repeats
NO_PRUNER = "none"                     # a multi-objective study: Optuna prunes one objective

SAMPLERS: dict[str, SamplerChoice] = {
    "tpe": SamplerChoice("Tree-structured Parzen Estimator, multivariate and grouped "
                         "(conditional parameters), with a constant liar for parallel workers"),
    "random": SamplerChoice("independent uniform draws", learns=False),
    "grid": SamplerChoice("every point of a finite space once, then the study stops", grid=True,
                          learns=False),
    "cmaes": SamplerChoice("CMA-ES: a Gaussian search distribution that moves towards each "
                           "generation's best (one metric)", multi_objective=False),
    "qmc": SamplerChoice("a quasi-random Sobol sequence, which covers the space evenly",
                         learns=False),
    "gp": SamplerChoice("Bayesian optimisation with a Gaussian process"),
}
# W&B method -> our sampler. `custom` leaves the choice to W&B's scheduler block, whose every
# engine runs on Optuna here.
METHODS = {"bayes": "tpe", "random": "random", "grid": "grid", "custom": "tpe"}
ENGINES = ("optuna", "wandb", "ax")   # W&B's scheduler.engine
GOALS = tuple(goal.value for goal in Goal)   # as a study file writes them


def pruner_choice(name: str) -> PrunerChoice:
    """The pruner's entry; a name the table lacks (a study that another version of sweep
    recorded) is an error."""
    return _entry(PRUNERS, name, "pruner")


def sampler_choice(name: str) -> SamplerChoice:
    return _entry(SAMPLERS, name, "sampler")


def _entry(table: Mapping[str, Choice], name: str, what: str) -> Choice:
    if name not in table:
        raise SpaceError(f"{what} {name!r}: not a {what} of this version of sweep; use "
                         f"{', '.join(table)}")
    return table[name]


def pruners_with(unit: str | None) -> tuple[str, ...]:
    return tuple(name for name, pruner in PRUNERS.items() if pruner.unit == unit)


def multi_objective_samplers() -> tuple[str, ...]:
    return tuple(name for name, sampler in SAMPLERS.items() if sampler.multi_objective)


def unranked_samplers() -> tuple[str, ...]:
    """The samplers that run a study without a metric."""
    return tuple(name for name, sampler in SAMPLERS.items() if not sampler.learns)
