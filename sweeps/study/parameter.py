"""One W&B parameter block: parsed, checked by the study's rules, drawn by Optuna.

A study's `parameters:` section speaks W&B's sweep schema, so a W&B sweep file runs unchanged.
Each block becomes a `Parameter`, whose `suggest(trial)` draws it (`distributions` says how
each distribution is drawn) and returns a value its study's `rules` accept: a `TrainConfig`
setting's, or, for a user's program, any value.

Like W&B, a block without `distribution` is inferred: `value` -> constant, `values` ->
categorical (with `probabilities` -> categorical_w_probabilities), integer `min`/`max` ->
int_uniform, other `min`/`max` -> uniform. A parameter inside W&B's nested groups
(`optim: {parameters: {lr: ...}}`) keeps its `path` (`('optim', 'lr')`); its name is the
study's rules' (`optim.lr` for a program, the setting `lr` for the trainer). A value listed
twice is kept, as W&B keeps it (`repeated`). Our one extension is `when: {optimizer: [sgd,
rmsprop]}`: the parameter is drawn only when every named parameter took one of the listed
values.

A value is refused up front when the distribution certainly reaches it: a listed value, or an
end of a bounded range. The normal family's tails reach any value with odds of a few in ten
thousand, so a W&B file that uses one runs: a draw the rules refuse raises `InfeasibleDraw`,
which fails that one trial (reason `infeasible`) and teaches the sampler to avoid it.

Every problem raises `SpaceError` naming where it is (`parameters.lr.min`) and what is allowed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from torchsweep.sweeps.errors import InfeasibleDraw, SpaceError
from torchsweep.sweeps.study.distributions import (
    BOUNDS,
    DISTRIBUTIONS,
    FORMS,
    PARAMETER_KEYS,
    Form,
    encode,
    required,
    same,
)
from torchsweep.sweeps.study.messages import check_keys, choice, mapping, num, number, show
from torchsweep.sweeps.study.rules import TRAINER, Rules

PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Parameter:
    name: str
    distribution: str
    value: Any = None
    values: tuple | None = None
    probabilities: tuple | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None
    a: float | None = None
    b: float | None = None
    when: tuple[tuple[str, tuple], ...] | None = None
    # The keys from `parameters:` down to it in W&B's nested groups; () for a top-level one.
    path: tuple[str, ...] = ()
    # Where it was written (`parameters.lr`, `--param lr`), for messages; not part of its value.
    where: str = field(default="", compare=False, repr=False)
    # Whose setting it is (the trainer's, or a program's): what a valid value is.
    rules: Rules = field(default=TRAINER, compare=False, repr=False)

    def suggest(self, trial: Any) -> Any:
        """Draw with an Optuna trial; returns the decoded, validated value."""
        form = FORMS[self.distribution]
        value = form.draw(self, trial)
        try:
            return self.rules.check_value(self.name, value, f"parameters.{self.name}")
        except SpaceError as error:
            if form.bounded:
                raise   # checked up front: a bug, not a draw
            raise InfeasibleDraw(str(error)) from None

    def active(self, drawn: Mapping[str, Any]) -> bool:
        """Whether `when` holds for the values drawn so far (an undrawn parent means no)."""
        return all(parent in drawn and drawn[parent] in allowed_values
                   for parent, allowed_values in self.when or ())

    def can_take(self, value: Any) -> bool:
        """Whether a draw may equal `value`; only asked of discrete parameters."""
        if self.distribution == "constant":
            return value == self.value
        if self.values is not None:
            return value in self.values
        return self.min <= value <= self.max and float(value).is_integer()

    def repeated(self) -> dict[int, int]:
        """Values listed more than once, as W&B keeps them: {index of the first repeat: how
        many times the value is listed}. Optuna, as W&B's engine, draws each listed item alike
        (a value listed twice is drawn twice as often); a grid runs it once."""
        indices: dict[Any, list[int]] = {}
        for i, value in enumerate(self.values or ()):
            indices.setdefault(encode(value), []).append(i)
        return {listed[1]: len(listed) for listed in indices.values() if len(listed) > 1}

    def describe(self) -> str:
        """Short text for a table, `when` aside: '{16, 32, 64}', 'log-uniform 1e-4..0.1'."""
        return FORMS[self.distribution].describe(self)

    def to_dict(self) -> dict:
        """The W&B block, with distribution and defaults spelt out; parse_parameter reads it."""
        doc: dict[str, Any] = {"distribution": self.distribution}
        for key in FORMS[self.distribution].keys:
            value = getattr(self, key)
            doc[key] = list(value) if isinstance(value, tuple) else value
        if self.when:
            doc["when"] = {parent: list(values) for parent, values in self.when}
        return doc


def parse_parameter(name: str, spec: Mapping, *, where: str, rules: Rules = TRAINER,
                    path: tuple[str, ...] = ()) -> Parameter:
    """One W&B parameter block for the setting `name` (at `path` in nested groups), held to
    `rules`."""
    rules.check_name(name, where)
    mapping(spec, where, "{values: [...]} or {min: ..., max: ...}")
    distribution = _infer_distribution(spec, where)
    form = FORMS[distribution]
    check_keys(spec, ("distribution", *form.keys, "when"), where, f" for {distribution}")
    missing = [key for key in form.required if key not in spec]
    if missing:
        raise SpaceError(f"{where}: {distribution} needs {' and '.join(missing)}")
    given = {key: spec.get(key, form.defaults.get(key)) for key in form.keys}
    for key in ("min", "max", "q", "mu", "sigma", "a", "b"):
        if key in given:
            given[key] = number(given[key], f"{where}.{key}", integer=form.integer)
    _check_shape(given, form, where)
    if "value" in given:
        given["value"] = rules.check_value(name, given["value"], f"{where}.value")
    if "values" in given:
        given["values"] = _parse_values(name, given["values"], f"{where}.values", rules)
    if "probabilities" in given:
        given["probabilities"] = _parse_probabilities(given["probabilities"], len(given["values"]),
                                                      f"{where}.probabilities")
    when = _parse_when(spec["when"], f"{where}.when", rules) if "when" in spec else None
    parameter = Parameter(name, distribution, when=when, path=path, where=where, rules=rules,
                          **given)
    _check_reach(parameter, where)
    return parameter


def _infer_distribution(spec: Mapping, where: str) -> str:
    """The explicit distribution, else W&B's inference from the keys present."""
    if "distribution" in spec:
        return choice(spec["distribution"], DISTRIBUTIONS, f"{where}.distribution")
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "min" in spec and "max" in spec:
        integers = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in BOUNDS)
        return "int_uniform" if integers else "uniform"
    # A misspelt key ("mx") is the likelier mistake than a missing one; say so first.
    check_keys(spec, PARAMETER_KEYS, where)
    raise SpaceError(f"{where}: cannot tell the distribution; give values, value, min and max, "
                     f"or a distribution ({', '.join(DISTRIBUTIONS)})")


def _check_shape(given: Mapping, form: Form, where: str) -> None:
    if "min" in given and given["min"] >= given["max"]:
        raise SpaceError(f"{where}.min: {num(given['min'])} is not below max "
                         f"{num(given['max'])}; min must be less than max")
    if form.positive and given["min"] <= 0:
        raise SpaceError(f"{where}.min: {num(given['min'])} is not positive; log-scale bounds "
                         f"must be > 0 (log_uniform, without _values, takes exponents instead)")
    for key in ("q", "sigma", "a", "b"):
        if key in given and given[key] <= 0:
            raise SpaceError(f"{where}.{key}: {num(given[key])} is not positive; "
                             f"{key} must be > 0")


def _parse_values(name: str, raw: Any, where: str, rules: Rules) -> tuple:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SpaceError(f"{where}: expected a non-empty list of {name} values, got {show(raw)}")
    return tuple(rules.check_value(name, v, f"{where}[{i}]") for i, v in enumerate(raw))


def _parse_probabilities(raw: Any, count: int, where: str) -> tuple:
    if not isinstance(raw, (list, tuple)) or len(raw) != count:
        raise SpaceError(f"{where}: expected {count} probabilities, one per value, "
                         f"got {show(raw)}")
    shares = tuple(number(p, f"{where}[{i}]") for i, p in enumerate(raw))
    for i, share in enumerate(shares):
        if share < 0:
            raise SpaceError(f"{where}[{i}]: {num(share)} is negative; probabilities are >= 0")
    if abs(sum(shares) - 1) > PROBABILITY_TOLERANCE:
        raise SpaceError(f"{where}: the probabilities sum to {sum(shares):.6g}; they must sum to 1")
    return shares


def _parse_when(raw: Any, where: str, rules: Rules) -> tuple[tuple[str, tuple], ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceError(f"{where}: expected a mapping of parameter to the values that turn this "
                         f"one on, e.g. {{optimizer: [sgd]}}, got {show(raw)}")
    conditions = []
    for parent, listed in raw.items():
        at = f"{where}.{parent}"
        rules.check_name(parent, at)
        if not isinstance(listed, list):
            conditions.append((parent, (rules.check_value(parent, listed, at),)))
            continue
        if not listed:
            raise SpaceError(f"{at}: empty list; give the {parent} values that turn this "
                             f"parameter on")
        conditions.append((parent, tuple(rules.check_value(parent, v, f"{at}[{i}]")
                                         for i, v in enumerate(listed))))
    return tuple(conditions)


def _check_reach(p: Parameter, where: str) -> None:
    """Every value the distribution can produce must be a valid setting.

    All decodings are monotone, so the two ends of the draw bound what it produces, and config
    settings allow an interval; checking both ends checks everything in between.
    """
    if p.distribution == "constant" or p.values is not None:
        return  # each listed value was checked as it was read
    if p.rules.requires_integers(p.name) and not (FORMS[p.distribution].integer or
                                               (p.q is not None and float(p.q).is_integer())):
        raise SpaceError(f"{where}.distribution: {p.name} takes whole numbers but "
                         f"{p.distribution} draws fractions; use int_uniform, values, or a q_ "
                         f"distribution with a whole q")
    for value, at in _range_ends(p, where):
        p.rules.check_value(p.name, value, at, reached_by=p.distribution)


def _range_ends(p: Parameter, where: str) -> tuple[tuple[Any, str], ...]:
    """The values the two ends of a range certainly produce, each with where its bound is
    written; none for the normal family, whose tails are reached only by chance."""
    form = FORMS[p.distribution]
    if not form.bounded:
        return ()
    ends = ((p.min, "min"), (p.max, "max")) if form.latent is None else _draw_ends(p, form, where)
    return tuple((value, f"{where}.{key}" if key else where) for value, key in ends)


def reach(p: Parameter, where: str) -> tuple[tuple[Any, str], ...]:
    """Values that stand for all `p` can take, each with where it is written: its value, each
    listed value, or the two ends of its range."""
    if p.distribution == "constant":
        return ((p.value, f"{where}.value"),)
    if p.values is not None:
        return tuple((value, f"{where}.values[{i}]") for i, value in enumerate(p.values))
    return _range_ends(p, where)


def _draw_ends(p: Parameter, form: Form, where: str) -> tuple[tuple[Any, str | None], ...]:
    """The values the two ends of the Optuna draw decode to, each with the key that sets it."""
    try:
        low, high, log = required(form.latent)(p)
        if math.isfinite(low) and math.isfinite(high) and low < high and (low > 0 or not log):
            decode = form.decode or same
            return (decode(p, low), form.ends[0]), (decode(p, high), form.ends[1])
    except (OverflowError, ZeroDivisionError):
        pass
    raise SpaceError(f"{where}: the {p.distribution} range cannot be drawn in floating point; "
                     f"keep values within about 1e-300..1e300 (exponents within 690)")
