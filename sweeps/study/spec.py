"""A study: a W&B sweep configuration, validated into a `StudySpec`.

A person's W&B sweep file runs unchanged. Top-level keys (W&B's unless marked ours):

    method             required, as in W&B: grid, random, bayes or custom (Optuna's grid,
                       random, and TPE for bayes and custom)
    parameters         required: setting name -> W&B parameter block (see `parameter`), or
                       W&B's nested group of them (see `space`)
    program, command   the user's own training script and the command that runs it, with W&B's
                       macros (${env}, ${interpreter}, ${program}, ${args}, ...): each trial
                       runs it as W&B's agent does; parameter names are then the program's own
    function (ours)    instead of a program, the user's Python function, `package.module:name`
                       (see `function_ref`): each trial calls it in a worker; names its own too
    metric             {name, goal, target}. For the trainer, name is a metric it reports
                       (default val_acc) and goal defaults to that metric's direction; for a
                       program, name is what it logs to W&B and goal defaults to W&B's minimize.
                       A program's grid or random study may have none: as in W&B, every trial
                       then runs to its end and none is ranked (`ranked`); bayes refuses it, as
                       W&B's engine does ('Bayesian search requires "metric" section')
    metrics            a list of such metrics: a multi-objective study (not pruned: Optuna
                       cannot prune one), its answer a Pareto front
    scheduler          {engine: optuna | wandb | ax, ...}: W&B's scheduler; every engine runs
                       on Optuna here, its source/optimizer/search_space functions are not used
    early_terminate    {type: hyperband, min_iter (or max_iter and s), eta (default 3, any
                       number above 1)}: W&B's iterations are the trainer's epochs (a fraction
                       such as 0.25 is a first cut a quarter into the first epoch; the pruner
                       counts them in samples seen), or a program's own steps. A fractional
                       eta runs W&B's own bands (`wandb_hyperband`): Optuna's takes whole ones
    run_cap            the most trials the study runs
    project, entity    the W&B project and entity its runs are logged to
    name, description  text; name defaults to the file's stem
    sampler (ours)     a name of `choices.SAMPLERS`; overrides method
    pruner (ours)      a name of `choices.PRUNERS`; overrides early_terminate. The default
                       (`pruned_by` says which and why): hyperband with early_terminate,
                       wilcoxon with repeats, else `DEFAULT_PRUNER` for the trainer and none
                       for the user's own code, which W&B would not prune
    prune_within (ours) a parameter, e.g. batch_size: a trial is pruned only against trials
                       with its own value of it (each batch size's learning rates compete
                       among themselves, not against the batch sizes that learn faster per
                       sample)
    keep_top_k (ours)  how many of the best trials keep their checkpoints (or output folders)
    trials (ours)      the default trial count for `sweep run`
    repeats (ours)     seeds each configuration trains with (default 1); its value is their
                       mean, and `--repeats` on `sweep run` overrides it (see engine/repeats)

Accepted but not applied, and named once (`StudySpec.ignored`, given back by `to_dict`):
controller, job, image_uri, apiVersion, kind, metric.impute, metric.impute_while_running,
early_terminate.strict, scheduler.source, scheduler.optimizer, scheduler.search_space.

early_terminate is read as W&B's engine reads it, its bands too (see `early_terminate`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from torchsweep.sweeps.errors import SpaceError, UnknownSetting
from torchsweep.sweeps.study.choices import (
    DEFAULT_PRUNER,
    EARLY_TERMINATE_PRUNER,
    ENGINES,
    GOALS,
    METHODS,
    NO_PRUNER,
    PRUNERS,
    REPEATS_PRUNER,
    SAMPLERS,
    WANDB_HYPERBAND_PRUNER,
    sampler_choice,
)
from torchsweep.sweeps.study.command import DEFAULT_COMMAND, check_command
from torchsweep.sweeps.study.early_terminate import fractional_eta, parse_early_terminate
from torchsweep.sweeps.study.function_ref import parse_function_ref
from torchsweep.sweeps.study.messages import check_keys, choice, count, mapping, number, show
from torchsweep.sweeps.study.param_grammar import parse_param_option, parse_set_option
from torchsweep.sweeps.study.parameter import Parameter
from torchsweep.sweeps.study.rules import PROGRAM, TRAINER, Rules
from torchsweep.sweeps.study.space import SearchSpace, parse_space
from torchsweep.trainer.config import EPOCH_METRICS
from torchsweep.trainer.goal import Goal

W_AND_B_GOAL = Goal.MINIMIZE   # W&B's default goal, for a program's metric
# W&B keys a file may carry that mean nothing to a local Optuna study.
IGNORED_KEYS = ("controller", "job", "image_uri", "apiVersion", "kind")
_OURS = ("sampler", "pruner", "prune_within", "keep_top_k", "trials", "repeats", "function")
TOP_LEVEL_KEYS = ("name", "description", "method", "metric", "metrics", "run_cap", "parameters",
                  "early_terminate", "scheduler", "program", "command", "project", "entity",
                  *_OURS, *IGNORED_KEYS)
_METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_SCHEDULER_KEYS = ("engine", "source", "optimizer", "search_space")


@dataclass(frozen=True)
class Objective:
    name: str
    goal: Goal
    target: float | None = None

    def __post_init__(self) -> None:   # "maximize" or "minimize" is read as its Goal
        object.__setattr__(self, "goal", Goal.from_name(self.goal))


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    name: str
    source: str                 # file path, 'bundled', or 'command line'
    description: str = ""
    method: str = "bayes"       # grid | random | bayes | custom
    objectives: tuple[Objective, ...] = (Objective("val_acc", Goal.MAXIMIZE),)
    run_cap: int | None = None
    space: SearchSpace
    program: str | None = None            # the user's script, as written
    command: tuple[str, ...] | None = None  # W&B's command template; None: W&B's default
    function: str | None = None           # the user's function, `package.module:name`
    sampler: str | None = None  # overrides method
    pruner: str | None = None   # overrides early_terminate
    prune_within: str | None = None   # a parameter whose values are pruned apart
    early_terminate: dict | None = None   # {type: hyperband, min_iter: epochs or steps, eta}
    scheduler: dict | None = None          # W&B's scheduler block, as written
    project: str | None = None
    entity: str | None = None
    keep_top_k: int | None = None
    trials: int | None = None
    repeats: int | None = None  # seeds per configuration; None: the CLI's or 1
    ignored: tuple[str, ...] = ()  # keys accepted but not applied; the CLI names them once
    # What W&B's reader makes of the file without a word (a key given twice, a value listed
    # twice), each with its line: said once, like `ignored`.
    read_notices: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # Their values, kept only so to_dict gives the user's document back.
    ignored_values: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Here rather than in parse_study so that with_options is held to it too.
        try:
            self.space.check_combinations()
            if sampler_choice(self.sampler_name()).grid:
                self.space.grid()
            if self.prune_within is not None and self.prune_within not in self.space.parameters:
                raise SpaceError(f"prune_within: {show(self.prune_within)} is not a parameter; "
                                 f"name one of {', '.join(self.space.parameters)}")
            if not self.ranked:
                self._check_unranked()
        except SpaceError as error:
            raise SpaceError(f"{self.source}: {error}") from None

    def _check_unranked(self) -> None:
        """What needs a metric, as in W&B's engine, which accepts such a file and fails at its
        first proposal ('Bayesian search requires "metric" section') or stop."""
        learner = self.sampler or self.method
        if sampler_choice(self.sampler_name()).learns:
            raise SpaceError(f"metric: missing; {learner} search learns from a metric (W&B's "
                             f"engine: 'requires \"metric\" section'); name the metric your "
                             f"code logs, e.g. metric: {{name: val_loss}}, or use method: "
                             f"random or grid")
        if self.pruner not in (None, NO_PRUNER) or self.early_terminate:
            stopper = "early_terminate" if self.early_terminate else "pruner"
            raise SpaceError(f"metric: missing; {stopper} compares trials by a metric (W&B's "
                             f"hyperband: 'requires \"metric\" section'); name the metric "
                             f"your code logs, or leave {stopper} out")

    # The first objective: the one a single-objective study optimises and prunes on. A study
    # without one (`ranked` false) has no metric, and its Optuna study W&B's default goal.
    @property
    def metric(self) -> str | None:
        return self.objectives[0].name if self.objectives else None

    goal = property(lambda self: self.objectives[0].goal if self.objectives else W_AND_B_GOAL)

    target = property(lambda self: self.objectives[0].target if len(self.objectives) == 1
                      else None)

    @property
    def ranked(self) -> bool:
        """Whether trials are ranked by a metric: a grid or random file for the user's own
        code may have none, and then every trial runs to its end, as in W&B."""
        return bool(self.objectives)

    @property
    def own_code(self) -> bool:
        """Whether trials run the user's own code (its parameter names are its own)."""
        return self.space.rules is PROGRAM

    multi_objective = property(lambda self: len(self.objectives) > 1)

    @property
    def runs_program(self) -> bool:
        """Each trial runs the user's program (`program:`/`command:`), not the trainer."""
        return self.program is not None or self.command is not None

    def sampler_name(self) -> str:
        return self.sampler or METHODS[self.method]

    def pruner_name(self, repeats: int | None = None) -> str:
        """The pruner, for `repeats` seeds per configuration (default: the study's)."""
        return self.pruned_by(repeats)[0]

    def pruned_by(self, repeats: int | None = None) -> tuple[str, str]:
        """The pruner, for `repeats` seeds per configuration (default: the study's), and why."""
        if self.multi_objective:
            return NO_PRUNER, "Optuna prunes single objectives only"
        if not self.ranked:
            return NO_PRUNER, "no metric to compare trials by"
        if (repeats or self.repeats or 1) > 1:   # a value per seed, not per epoch
            return (self.pruner, "the study's pruner") if self.pruner else (
                REPEATS_PRUNER, "the default with repeats")
        if self.pruner:
            return self.pruner, "the study's pruner"
        if fractional_eta(self.early_terminate):
            return WANDB_HYPERBAND_PRUNER, (f"early_terminate's eta {self.early_terminate['eta']} "
                                            f"is fractional, which W&B takes and Optuna's "
                                            f"hyperband does not")
        if self.early_terminate:
            return EARLY_TERMINATE_PRUNER, "early_terminate's hyperband"
        if self.own_code:
            return NO_PRUNER, ("your code names no early_terminate and no pruner, and W&B would "
                               "not prune it")
        return DEFAULT_PRUNER, "the trainer's default"

    def notices(self) -> list[str]:
        """What the user should hear once about how this study runs."""
        said = list(self.read_notices)
        if not self.ranked:
            said.append("metric: none, as W&B allows: every trial runs to its end, unpruned; "
                        "`sweep best` has nothing to rank by, and every trial's folder is kept")
        if self.ignored:
            said.append(f"{', '.join(self.ignored)} do not apply to local sweeps and are "
                        f"ignored")
        if self.multi_objective and (self.pruner or self.early_terminate):
            said.append("metrics: a multi-objective study is not pruned (Optuna prunes single "
                        "objectives only); every trial runs to its end")
        if self.multi_objective and any(o.target is not None for o in self.objectives):
            said.append("metrics: targets do not stop a multi-objective study")
        if (self.scheduler or {}).get("engine") == "ax":
            said.append("scheduler.engine: ax is not available here; Optuna's TPE runs instead")
        return said

    def to_dict(self) -> dict:
        """The W&B-style document; parse_study reads it back to an equal spec."""
        doc: dict[str, Any] = {"name": self.name}
        if self.description:
            doc["description"] = self.description
        doc["method"] = self.method
        metrics = [{"name": o.name, "goal": o.goal.value,
                    **({"target": o.target} if o.target is not None else {})}
                   for o in self.objectives]
        if metrics:
            doc.update({"metrics": metrics} if self.multi_objective else {"metric": metrics[0]})
        optional = {"program": self.program, "function": self.function,
                    "command": list(self.command) if self.command else None,
                    "run_cap": self.run_cap, "early_terminate": self.early_terminate,
                    "scheduler": self.scheduler, "project": self.project, "entity": self.entity,
                    "sampler": self.sampler, "pruner": self.pruner,
                    "prune_within": self.prune_within, "keep_top_k": self.keep_top_k,
                    "trials": self.trials, "repeats": self.repeats}
        doc.update({key: dict(v) if isinstance(v, dict) else v
                    for key, v in optional.items() if v is not None})
        doc["parameters"] = self.space.to_dict()
        for dotted, value in self.ignored_values.items():
            head, _, key = dotted.partition(".")
            if not key:
                doc[head] = value
            elif head.startswith("metrics["):   # metrics[1].impute
                doc["metrics"][int(head[len("metrics["):-1])][key] = value
            else:
                doc[head][key] = value
        return doc

    def with_options(self, params: Sequence[str] = (), sets: Sequence[str] = (),
                     prune_within: str | None = None) -> "StudySpec":
        """Apply `--param NAME=SPEC` (add or replace a dimension), `--set NAME=VALUE` (fix one)
        and `--prune-within NAME`."""
        rules = self.space.rules
        changes = [parse_param_option(text, rules) for text in params]
        changes += [Parameter(name, "constant", value=value, where=f"--set {name}", rules=rules)
                    for name, value in (parse_set_option(text, rules) for text in sets)]
        return dataclasses.replace(self, space=self.space.with_parameters(changes),
                                   prune_within=prune_within or self.prune_within)


def parse_study(doc: Any, *, name: str, source: str, function: str | None = None) -> StudySpec:
    """Validate a whole W&B sweep document; every error starts with `source`. `function`
    (`--function`) gives or replaces its `function:`."""
    try:
        fields = _parse_fields({**doc, "function": function} if function and isinstance(
            doc, Mapping) else doc, name)
    except UnknownSetting as error:   # a file for the user's own code, more likely than a typo
        raise SpaceError(f"{source}: {error}; if the file is for your own training code, add "
                         f"program: (your script), or run `sweep run {source} --function "
                         f"package.module:function`") from None
    except SpaceError as error:
        raise SpaceError(f"{source}: {error}") from None
    return StudySpec(source=source, **fields)


def _parse_fields(doc: Any, default_name: str) -> dict[str, Any]:
    doc = mapping(doc, "top level", "{method: bayes, parameters: {...}}")
    check_keys(doc, TOP_LEVEL_KEYS, "")
    for key in ("method", "parameters"):
        if key not in doc:
            raise SpaceError(f"{key}: missing; a W&B sweep file needs method and parameters")
    if "metric" in doc and "metrics" in doc:
        raise SpaceError("metrics: give metric (one objective) or metrics (several), not both")
    ignored = {key: doc[key] for key in IGNORED_KEYS if key in doc}
    program = _optional(doc, "program", lambda v: _text(v, "program", empty=False))
    command = _optional(doc, "command", _parse_command)
    function = _optional(doc, "function", parse_function_ref)
    if function is not None and (program is not None or command is not None):
        raise SpaceError(f"function: {function} comes with {'program' if program else 'command'}"
                         f":; a trial runs one of them: give program: (a script) or function:")
    rules = PROGRAM if (program, command, function) != (None, None, None) else TRAINER
    if rules is PROGRAM and function is None:
        check_command(command or DEFAULT_COMMAND, program)
    fields: dict[str, Any] = {
        "name": _text(doc.get("name", default_name), "name", empty=False),
        "description": _text(doc.get("description", ""), "description"),
        "method": choice(doc["method"], METHODS, "method"),
        "objectives": _parse_objectives(doc, rules, ignored),
        "space": parse_space(doc["parameters"], rules=rules),
        "program": program, "command": command, "function": function,
        "early_terminate": (parse_early_terminate(doc["early_terminate"], ignored, rules)
                            if "early_terminate" in doc else None),
        "scheduler": _optional(doc, "scheduler", lambda v: _parse_scheduler(v, ignored)),
        "project": _optional(doc, "project", lambda v: _text(v, "project", empty=False)),
        "entity": _optional(doc, "entity", lambda v: _text(v, "entity", empty=False)),
        "sampler": _optional(doc, "sampler", lambda v: choice(v, SAMPLERS, "sampler")),
        "pruner": _optional(doc, "pruner", lambda v: choice(v, PRUNERS, "pruner")),
        "prune_within": _optional(doc, "prune_within",
                                  lambda v: _text(v, "prune_within", empty=False)),
        "run_cap": _optional(doc, "run_cap", lambda v: count(v, "run_cap", 1)),
        "keep_top_k": _optional(doc, "keep_top_k", lambda v: count(v, "keep_top_k", 0)),
        "trials": _optional(doc, "trials", lambda v: count(v, "trials", 1)),
        "repeats": _optional(doc, "repeats", lambda v: count(v, "repeats", 1)),
    }
    return {**fields, "ignored": tuple(ignored), "ignored_values": ignored}


def _optional(doc: Mapping, key: str, parse: Callable[[Any], Any]) -> Any:
    return parse(doc[key]) if key in doc else None


def _text(value: Any, where: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or not (empty or value):
        kind = "text" if empty else "non-empty text"
        raise SpaceError(f"{where}: expected {kind}, got {show(value)}")
    return value


def _parse_command(raw: Any) -> tuple[str, ...]:
    """W&B's command: a list of words and macros (${args} ...), numbers allowed as words."""
    if not isinstance(raw, list) or not raw or not all(
            isinstance(word, (str, int, float)) and not isinstance(word, bool) for word in raw):
        raise SpaceError(f"command: expected a non-empty list of words such as [${{env}}, "
                         f"${{interpreter}}, ${{program}}, ${{args}}], got {show(raw)}")
    return tuple(str(word) for word in raw)


def _parse_objectives(doc: Mapping, rules: Rules, ignored: dict[str, Any]) -> tuple:
    if "metrics" in doc:
        raw = doc["metrics"]
        if not isinstance(raw, list) or len(raw) < 2:
            raise SpaceError(f"metrics: expected a list of two or more metrics such as "
                             f"[{{name: val_acc, goal: maximize}}, {{name: epoch_seconds, goal: "
                             f"minimize}}], got {show(raw)}")
        objectives = tuple(_parse_metric(m, f"metrics[{i}]", rules, ignored)
                           for i, m in enumerate(raw))
        names = [o.name for o in objectives]
        repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if repeated is not None:
            raise SpaceError(f"metrics: {repeated} is listed twice; list each metric once")
        return objectives
    if "metric" not in doc and rules is PROGRAM:
        return ()   # nothing to rank by, as W&B allows (StudySpec.ranked)
    if "metric" not in doc:
        return (Objective("val_acc", EPOCH_METRICS["val_acc"]),)
    return (_parse_metric(doc["metric"], "metric", rules, ignored),)


def _parse_metric(raw: Any, where: str, rules: Rules, ignored: dict[str, Any]) -> Objective:
    raw = mapping(raw, where, "{name: val_acc, goal: maximize}")
    check_keys(raw, _METRIC_KEYS, where)
    ignored.update({f"{where}.{key}": raw[key] for key in ("impute", "impute_while_running")
                    if key in raw})
    if rules is PROGRAM:
        name = _text(raw.get("name"), f"{where}.name", empty=False)
        default_goal = W_AND_B_GOAL
    else:
        name = choice(raw.get("name"), EPOCH_METRICS, f"{where}.name", error=UnknownSetting)
        default_goal = EPOCH_METRICS[name]
    goal = choice(raw.get("goal", default_goal.value), GOALS, f"{where}.goal")
    return Objective(name, Goal.from_name(goal),
                     number(raw["target"], f"{where}.target") if "target" in raw else None)


def _parse_scheduler(raw: Any, ignored: dict[str, Any]) -> dict[str, Any]:
    raw = mapping(raw, "scheduler", "{engine: optuna}")
    check_keys(raw, _SCHEDULER_KEYS, "scheduler")
    choice(raw.get("engine"), ENGINES, "scheduler.engine")
    ignored.update({f"scheduler.{key}": raw[key] for key in _SCHEDULER_KEYS[1:] if key in raw})
    return {"engine": raw["engine"]}
