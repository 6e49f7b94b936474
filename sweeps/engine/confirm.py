"""`sweep best STUDY --confirm K --seeds N`: is the best trial best, or was its seed lucky?

The top K completed trials' configurations train again, each on the same N fresh seeds, and
are ranked by the mean of their N best-epoch values, each with its 95% t interval (see
`readout.stats`). Fresh means no trial of the study used it (its config seed, its repeats'
seeds) and no earlier confirmation did: the seeds start one past the largest used. The same
seeds for every configuration make the comparison paired, like repeats'.

Each run trains in `<root>/<study>/confirm/<trial>/<seed>/` and keeps its metrics.jsonl, not
its checkpoint: the export's weights stay the trial's own, now with the confirmation written
beside them. The result is recorded on the study (`confirmations`), so a later confirmation
draws seeds fresh again. A program study (sweep cannot set its seed) and a multi-objective
study (no single ranking) are refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.repeats import train_seed
from torchsweep.sweeps.errors import ExportError, StudyError
from torchsweep.sweeps.readout.stats import Interval, interval
from torchsweep.sweeps.readout.trials import goal, is_multi_objective, ranked_records
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.goal import Goal

CONFIRM_FOLDER = "confirm"   # under the study's folder


@dataclass(frozen=True)
class ConfirmedTrial:
    """One of the top trials, trained again on the fresh seeds."""
    trial: int
    study_rank: int                  # 1 for the study's own best
    params: dict[str, Any]
    study_value: float | None        # the value the study ranked it by
    values: tuple[float, ...]        # one per fresh seed, in the seeds' order
    spread: Interval                 # their mean and 95% interval, which ranks it here

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "study_rank": self.study_rank, "params": self.params,
                "study_value": self.study_value, "values": list(self.values),
                **self.spread.to_dict()}


@dataclass(frozen=True)
class Confirmation:
    """`confirm`'s outcome: the top trials ranked by their mean on the same fresh seeds."""
    metric: str
    goal: Goal
    seeds: tuple[int, ...]
    trials: tuple[ConfirmedTrial, ...]   # best mean first

    @property
    def winner(self) -> ConfirmedTrial:
        return self.trials[0]

    @property
    def study_best(self) -> ConfirmedTrial:
        """The trial the study itself ranked first."""
        return next(row for row in self.trials if row.study_rank == 1)

    def verdict(self) -> str:
        """Whether the winner is the study's best, and if not whether its lead is real."""
        top, study_best = self.winner, self.study_best
        if top is study_best:
            return "the study's best too"
        return f"the study ranked trial {study_best.trial} first; " + (
            "their 95% intervals do not overlap: its value was a lucky draw"
            if top.spread.apart(study_best.spread) else
            "their 95% intervals overlap: more seeds would tell the two apart surely")

    def to_dict(self) -> dict[str, Any]:
        """As `sweep best --json` prints it and the study records it."""
        return {"metric": self.metric, "goal": self.goal.value, "seeds": list(self.seeds),
                "trials": [row.to_dict() for row in self.trials]}

    def winner_dict(self) -> dict[str, Any]:
        """What an export of the winner records beside its weights."""
        return {**self.winner.to_dict(), "seeds": list(self.seeds), "metric": self.metric}


def fresh_seeds(study: optuna.Study, count: int) -> list[int]:
    """`count` seeds that no trial and no earlier confirmation of the study used."""
    used = {0}   # the trainer's default seed
    for trial in study.get_trials(deepcopy=False):
        used.add(int(attrs.config(trial).get("seed", 0)))
        used.update((attrs.repeats(trial) or {}).get("seeds", []))
    for earlier in attrs.confirmations(study):
        used.update(earlier.get("seeds", []))
    first = max(used) + 1
    return list(range(first, first + count))


def confirm(study: optuna.Study, root: Path, top: int, count: int,
            progress: Callable[[int, int, float], None] = lambda trial, seed, value: None,
            ) -> Confirmation:
    """Retrain the top `top` trials on `count` fresh seeds; the confirmation, best first."""
    name = study.study_name
    if attrs.runs_program(study):
        raise StudyError(f"--confirm: '{name}' runs your own program, whose seed sweep cannot "
                         "set; confirmation retrains trainer studies only")
    if is_multi_objective(study):
        raise StudyError(f"--confirm: '{name}' has several metrics and so no single ranking to "
                         "confirm; export a trial of its Pareto front with --trial")
    candidates = ranked_records(study)[:top]
    if not candidates:
        raise ExportError(f"study '{name}' has no completed trial yet")
    metric, aim = attrs.metric_name(study), goal(study)
    if metric is None:
        raise StudyError(f"--confirm: '{name}' has no metric, so no ranking to confirm")
    seeds = fresh_seeds(study, count)
    confirmed: list[ConfirmedTrial] = []
    for study_rank, record in enumerate(candidates, start=1):
        config = TrainConfig.from_dict(record.config)
        values: list[float] = []
        for seed in seeds:
            out = Path(root) / name / CONFIRM_FOLDER / f"{record.number:05d}" / str(seed)
            result = train_seed(config, seed, out, metric, aim)
            # A seed whose loss diverged scores the worst value there is.
            value = result.best[metric] if result.status == "completed" and result.best \
                else aim.worst
            values.append(value)
            progress(record.number, seed, value)
        confirmed.append(ConfirmedTrial(
            trial=record.number, study_rank=study_rank, params=record.params,
            study_value=record.value, values=tuple(values), spread=interval(values)))
    # Ties keep the study's order (sorted is stable).
    confirmed.sort(key=lambda row: -aim.sign * row.spread.mean)
    outcome = Confirmation(metric=metric, goal=aim, seeds=tuple(seeds), trials=tuple(confirmed))
    attrs.add_confirmation(study, outcome.to_dict())
    return outcome
