"""Repeats: each configuration trains with several seeds, and its value is their mean.

A single seed's ranking can be luck. With `repeats: N` in a study (or `sweep run --repeats N`;
the command line wins, then the file, then 1) every trial trains its configuration N times and
tells Optuna the mean of the N best-epoch values; each seed's value and their spread are kept
in the trial's `repeats` attribute (see `attrs`).

Seeds: a configuration's seeds are its config seed s (0 unless the study fixes `seed`) and
the ones after it, s, s+1, ..., s+N-1, the same for every configuration. So configurations are
compared on the same draws of initialisation, split and shuffling (common random numbers),
and Optuna's WilcoxonPruner can pair trial A's k-th seed with the best trial's k-th seed: each
seed's value is reported at step k, the seed's index. That is the pruner a study with repeats
gets by default: it stops a configuration once a signed-rank test says, at p < 0.1, that it is
worse than the best one (an exact one-sided test needs 4 paired seeds to get there), and the
trial keeps the mean of the seeds it ran, as Optuna advises. The epoch pruners (median,
hyperband, successive halving) compare values by epoch, which repeats have no single one of:
given on the command line with repeats they are refused, and a study file's gives way to
wilcoxon, with a notice.

The first seed trains in the trial's own folder (its checkpoint is the one kept and exported,
its curve is the W&B run's); seed s trains in `<trial folder>/seeds/<s>/`, which keeps its
metrics.jsonl for the report's error bars and no checkpoint. A retry resumes the first seed
from its checkpoint and trains the other seeds again.

A user's program (`program:` studies) is refused: sweep cannot set its seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.choices import (
    NO_PRUNER,
    REPEATS_PRUNER,
    SAMPLES,
    SEEDS,
    pruner_choice,
    pruners_with,
)
from torchsweep.trainer import TrainConfig
from torchsweep.trainer.checkpoint import Checkpoints
from torchsweep.trainer.goal import Goal

DEFAULT_REPEATS = 1
SEEDS_FOLDER = "seeds"       # under a trial's folder: <trial>/seeds/<seed>/
WILCOXON_P = 0.1             # Optuna's default p_threshold


def resolve(spec: StudySpec, given: int | None) -> int:
    """Seeds per configuration: the command line's (or a worker's recorded one), the file's,
    else 1; refused where it cannot apply."""
    repeats = given or spec.repeats or DEFAULT_REPEATS
    if repeats > 1 and spec.own_code:
        raise StudyError(f"repeats {repeats}: this study runs your own code, whose seed sweep "
                         "cannot set; repeats work for trainer studies only")
    seed = spec.space.parameters.get("seed")
    if repeats > 1 and seed is not None and seed.distribution != "constant":
        raise StudyError(f"repeats {repeats}: seed is a search dimension here; with repeats "
                         "each configuration trains with seeds s, s+1, ...: fix seed or drop "
                         "repeats")
    return repeats


def pruner(spec: StudySpec, given: str | None, repeats: int) -> str:
    """The pruner a study runs: the one given (command line, or recorded for workers), the
    file's, else the default for its repeats. With repeats an epoch pruner given on the command
    line is refused, and the file's gives way to wilcoxon (`replaced_pruner` says so); wilcoxon
    without repeats is refused."""
    name = given or spec.pruner
    if spec.multi_objective or not spec.ranked:   # nothing to prune on (StudySpec.pruned_by)
        return NO_PRUNER
    if repeats > 1 and _unit(given) == SAMPLES:
        fitting = " or ".join(pruners_with(SEEDS) + pruners_with(None))
        raise StudyError(f"pruner {given} compares trials epoch by epoch; with repeats "
                         f"{repeats} a trial reports one value per seed: use pruner {fitting} "
                         f"({REPEATS_PRUNER} is the default with repeats)")
    if repeats == 1 and _unit(name) == SEEDS:
        raise StudyError(f"pruner {name} compares a configuration's seeds with the best "
                         "one's: it needs repeats of 2 or more")
    if replaced_pruner(spec, given, repeats):
        return REPEATS_PRUNER
    return given or spec.pruner_name(repeats)


def replaced_pruner(spec: StudySpec, given: str | None, repeats: int) -> str | None:
    """The notice for a study file's epoch pruner that repeats replace, else None."""
    if repeats > 1 and not given and _unit(spec.pruner) == SAMPLES and not spec.multi_objective:
        return (f"pruner {spec.pruner}: compares epochs, and with repeats {repeats} a trial "
                f"reports one value per seed, so the {REPEATS_PRUNER} pruner compares seeds "
                "instead")
    return None


def _unit(pruner: str | None) -> str | None:
    return pruner_choice(pruner).unit if pruner else None


def seeds(first: int, repeats: int) -> list[int]:
    return list(range(first, first + repeats))


def seed_folder(trial_folder: str, seed: int) -> str:
    return f"{trial_folder}/{SEEDS_FOLDER}/{seed}"


def train_seed(config: TrainConfig, seed: int, out: Path, metric: str, goal: Goal,
               callbacks: Iterable[Callable[[dict], Any]] = ()) -> Any:
    """Train `config` again on `seed` in `out`, keeping its metrics and no checkpoint: the
    weights kept and exported are the trial's own (a repeat's other seeds, a confirmation)."""
    from torchsweep.trainer.loop import fit

    result = fit(config.replace(seed=seed), out_dir=out, callbacks=callbacks, monitor=metric,
                 goal=goal)
    Checkpoints(out).discard()
    return result
