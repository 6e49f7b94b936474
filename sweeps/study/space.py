"""The whole search space: parameters in the order written, drawn parents first.

`SearchSpace.sample(trial)` draws every active parameter with an Optuna trial (it arrives from
the caller: nothing here imports Optuna); `grid()` is the space of Optuna's GridSampler;
`fingerprint()` tells a reopened study whether its space changed. W&B's nested groups
(`optim: {parameters: {lr: ..., momentum: ...}}`) are flat names here and in Optuna (a
program's `optim.lr`), and `nest()` gives their values back nested, as W&B's agent passes them
(`{'optim': {'lr': 0.01, 'momentum': 0.9}}`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study import feasibility
from torchsweep.sweeps.study.distributions import DISCRETE, encode, required
from torchsweep.sweeps.study.messages import check_keys, mapping, show
from torchsweep.sweeps.study.parameter import Parameter, parse_parameter
from torchsweep.sweeps.study.rules import TRAINER, Rules

# An int_uniform larger than this is a range to search, not a grid to walk.
GRID_INT_LIMIT = 1000


@dataclass(frozen=True)
class SearchSpace:
    parameters: dict[str, Parameter]  # ordered as written
    rules: Rules = field(default=TRAINER, compare=False)   # whose settings they are
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_order", _sampling_order(self.parameters))

    def sample(self, trial: Any) -> dict[str, Any]:
        """Values of all active parameters (constants included), parents drawn before children."""
        drawn: dict[str, Any] = {}
        for name in self._order:
            parameter = self.parameters[name]
            if parameter.active(drawn):
                drawn[name] = parameter.suggest(trial)
        return {name: drawn[name] for name in self.parameters if name in drawn}

    def grid(self) -> dict[str, list[Any]]:
        """The search space of Optuna's GridSampler: every drawn parameter must be finite.

        A conditional parameter is a full dimension: where it is inactive, grid points that
        differ only in its value repeat one configuration.
        """
        grid: dict[str, list[Any]] = {}
        for p in self.parameters.values():
            if p.distribution == "categorical":   # a value listed twice runs once, as in W&B
                grid[p.name] = list(dict.fromkeys(encode(v) for v in required(p.values)))
            elif p.distribution == "int_uniform" and \
                    required(p.max) - required(p.min) < GRID_INT_LIMIT:
                grid[p.name] = list(range(int(required(p.min)), int(required(p.max)) + 1))
            elif p.distribution != "constant":
                raise SpaceError(f"parameters.{p.name}: grid search needs `values` (or a value, or "
                                 f"an int_uniform of at most {GRID_INT_LIMIT} integers), got "
                                 f"{p.distribution}")
        return grid

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def fingerprint(self) -> str:
        """Stable across runs and key order: a reopened study compares it to spot a new space."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """W&B's `parameters:`, nested groups as written; parse_space reads it back."""
        doc: dict[str, Any] = {}
        for name, p in self.parameters.items():
            *groups, key = p.path or (name,)
            level = doc
            for group in groups:
                level = level.setdefault(group, {"parameters": {}})["parameters"]
            level[key] = p.to_dict()
        return doc

    def nest(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values by flat name (`optim.lr`) as W&B's `wandb.config` holds them: each at its
        parameter's path in the nested groups (`{'optim': {'lr': 0.01}}`)."""
        nested: dict[str, Any] = {}
        for name, value in values.items():
            parameter = self.parameters.get(name)
            *groups, key = parameter.path if parameter is not None and parameter.path else (name,)
            level = nested
            for group in groups:
                level = level.setdefault(group, {})
            level[key] = value
        return nested

    def constants(self) -> dict[str, Any]:
        """Settings every trial gets: the unconditional constants."""
        return {name: p.value for name, p in self.parameters.items()
                if p.distribution == "constant" and not p.when}

    def check_combinations(self) -> None:
        """Refuse settings that cannot work together (see `feasibility`)."""
        feasibility.check_combinations(self)

    def where(self, name: str) -> str:
        """Where parameter `name` was written, for messages."""
        return self.parameters[name].where or f"parameters.{name}"

    def with_parameters(self, changes: Iterable[Parameter]) -> "SearchSpace":
        """Add or replace dimensions (command-line overrides).

        A replaced parameter keeps its `when`: `--param momentum=0.8..0.95` narrows the range,
        not the structure. A condition that can no longer hold (`--set optimizer=adam` while
        momentum needs sgd) drops its parameter instead of failing.
        """
        parameters = dict(self.parameters)
        for new in changes:
            old = parameters.get(new.name)
            if old is not None:   # in its nested group, under its condition
                new = dataclasses.replace(new, when=old.when, path=old.path)
            parameters[new.name] = new
        return SearchSpace(_possible(parameters), self.rules)


def parse_space(doc: Any, *, where: str = "parameters", rules: Rules = TRAINER) -> SearchSpace:
    """A W&B `parameters:` mapping of setting name to parameter block.

    Unlike W&B it may be empty: a study defined on the command line starts that way and gets
    its dimensions from --param.
    """
    parameters: dict[str, Parameter] = {}
    for path, spec, at in _blocks(doc, where, (), rules):
        name = rules.name_of(path)
        if name in parameters:
            raise SpaceError(f"{at}: {name} is given at {parameters[name].where} too; give "
                             f"each parameter once")
        parameters[name] = parse_parameter(name, spec, where=at, rules=rules,
                                           path=path if len(path) > 1 else ())
    return SearchSpace(parameters, rules)


def _blocks(doc: Any, where: str, group: tuple[str, ...],
            rules: Rules) -> Iterator[tuple[tuple[str, ...], Any, str]]:
    """(path, block, where) of every parameter, in W&B's nested groups too: a block holding
    `parameters:` is a group (W&B's `param_dict`), which holds nothing else."""
    mapping(doc, where, "{lr: {min: 0.001, max: 0.1}}")
    for key, spec in doc.items():
        at = f"{where}.{key}"
        if isinstance(spec, Mapping) and "parameters" in spec:
            rules.check_group(key, at)
            check_keys(spec, ("parameters",), at, " for a group of parameters")
            yield from _blocks(spec["parameters"], f"{at}.parameters", (*group, key), rules)
        else:
            yield (*group, key), spec, at


def _sampling_order(parameters: Mapping[str, Parameter]) -> tuple[str, ...]:
    """Validate every `when` against its parent; order parents before children."""
    for p in parameters.values():
        for parent, listed in p.when or ():
            at = f"parameters.{p.name}.when.{parent}"
            if parent == p.name or parent not in parameters:
                raise SpaceError(f"{at}: {parent} is not another parameter of this study; when can "
                                 f"only test parameters listed under parameters")
            source = parameters[parent]
            if source.distribution not in DISCRETE:
                raise SpaceError(f"{at}: {parent} is {source.distribution}; when can only test a "
                                 f"parameter given by value, values or int_uniform")
            for value in listed:
                if not source.can_take(value):
                    raise SpaceError(f"{at}: {parent} never takes {show(value)}; it takes "
                                     f"{source.describe()}")
    order: list[str] = []
    while len(order) < len(parameters):
        ready = [name for name, p in parameters.items() if name not in order
                 and all(parent in order for parent, _ in p.when or ())]
        if not ready:
            stuck = [name for name in parameters if name not in order]
            raise SpaceError(f"parameters.{stuck[0]}.when: the conditions of {', '.join(stuck)} "
                             f"depend on each other in a cycle; a parameter cannot depend on "
                             f"itself")
        order += ready
    return tuple(order)


def _possible(parameters: dict[str, Parameter]) -> dict[str, Parameter]:
    """Trim `when` lists to values their parents can still take; drop what can never be drawn."""
    parameters = dict(parameters)
    changed = True
    while changed:  # dropping a parameter may strand its own children
        changed = False
        for name, p in list(parameters.items()):
            trimmed = tuple(
                (parent, tuple(v for v in listed if _may_take(parameters.get(parent), v)))
                for parent, listed in p.when or ())
            if trimmed == (p.when or ()):
                continue
            changed = True
            if all(listed for _, listed in trimmed):
                parameters[name] = dataclasses.replace(p, when=trimmed)
            else:
                del parameters[name]
    return parameters


def _may_take(parent: Parameter | None, value: Any) -> bool:
    return parent is not None and parent.distribution in DISCRETE and parent.can_take(value)
