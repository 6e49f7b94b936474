"""Search spaces: W&B sweep parameter blocks, checked against `TrainConfig`, sampled by Optuna.

A study's `parameters:` section speaks W&B's sweep schema, so a W&B sweep file runs unchanged.
Each block becomes a `Parameter`; `SearchSpace.sample(trial)` draws every active one with an
Optuna trial and returns values that `trainer.config.check_setting` accepts.

W&B distributions on Optuna. Native ones are drawn under the parameter's own name; transformed
ones draw a float x under `NAME~latent` and map it back exactly as W&B defines the distribution,
so no distribution is silently approximated:

| W&B distribution            | Optuna draw x                                 | value             |
|-----------------------------|-----------------------------------------------|-------------------|
| constant                    | none                                          | value             |
| categorical                 | suggest_categorical(NAME, values) (1)         | x                 |
| int_uniform                 | suggest_int(NAME, min, max)                   | x                 |
| uniform                     | suggest_float(NAME, min, max)                 | x                 |
| log_uniform_values          | suggest_float(NAME, min, max, log=True)       | x                 |
| log_uniform                 | suggest_float(NAME, e^min, e^max, log=True)   | x                 |
| q_uniform                   | suggest_float(latent, min, max)               | round(x / q) * q  |
| q_log_uniform_values        | suggest_float(latent, min, max, log=True)     | round(x / q) * q  |
| q_log_uniform               | suggest_float(latent, e^min, e^max, log=True) | round(x / q) * q  |
| inv_log_uniform_values      | suggest_float(latent, 1/max, 1/min, log=True) | 1/x (4)           |
| inv_log_uniform             | suggest_float(latent, e^min, e^max, log=True) | 1/x (4)           |
| normal (q_normal)           | suggest_float(latent, 1e-6, 1 - 1e-6) (2)     | mu + sigma * z(x) |
| log_normal (q_log_normal)   | suggest_float(latent, 1e-6, 1 - 1e-6) (2)     | e^(mu+sigma*z(x)) |
| categorical_w_probabilities | suggest_float(latent, 0, 1)                   | (3)               |

Keys: min and max bound the uniform forms; for log_uniform, q_log_uniform and inv_log_uniform
they are exponents of e, for the *_values forms the values themselves (> 0). W&B's defaults
apply: q 1.0, mu 0, sigma 1. The q_ forms round to q; as in W&B the value is an int when q is.
(1) Choices Optuna cannot store (lists, mappings) travel as JSON text and are decoded back.
(2) Drawn as a quantile, z its standard-normal inverse CDF, so samplers see a bounded space;
    1e-6 reaches 4.75 sigma.
(3) The first value whose cumulative probability exceeds x.
(4) W&B's ranges: inv_log_uniform_values gives min..max, inv_log_uniform e^-max..e^-min.

Like W&B, a block without `distribution` is inferred: `value` -> constant, `values` ->
categorical (with `probabilities` -> categorical_w_probabilities), integer `min`/`max` ->
int_uniform, other `min`/`max` -> uniform. Nested W&B `parameters:` groups are not supported:
`TrainConfig` settings are flat. Our one extension is `when: {optimizer: [sgd, rmsprop]}`: the
parameter is drawn only when every named parameter took one of the listed values.

`--param NAME=SPEC` on the command line, SPEC one of:
    a,b,c                 categorical; items read as int, float, true/false, else text
    LOW..HIGH             uniform, or int_uniform for an integer setting given integer bounds
    LOW..HIGH:STEP        q_uniform with q=STEP (integers when STEP is an integer)
    log:LOW..HIGH[:STEP]  log_uniform_values, or q_log_uniform_values with q=STEP (q=1 for an
                          integer setting given integer bounds)
    VALUE                 constant
e.g. batch_size=16,32,64,128  lr=log:1e-4..1e-1  label_smoothing=0..0.3  epochs=3.
An integer is written without '.' or 'e'. Unlike W&B's inference from YAML types, the integer
forms need an integer setting too: `momentum=0..1` means 0 to 1, not {0, 1}.

Every problem raises `SpaceError` naming where it is (`parameters.lr.min`) and what is allowed.
Optuna is imported by nobody here: a trial arrives from the caller.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from itertools import accumulate
from statistics import NormalDist
from typing import Any, Callable, Iterable, Mapping

from torchsweep.trainer.config import (FIELDS, ConfigError, TrainConfig, allowed, check_batch_fits,
                            check_setting, quote, unknown_setting_message)

LATENT = "~latent"
QUANTILE_EDGE = 1e-6
# An int_uniform larger than this is a range to search, not a grid to walk.
GRID_INT_LIMIT = 1000
PROBABILITY_TOLERANCE = 1e-6


class SpaceError(ValueError):
    """One-line message: '<where>: <what is wrong>; <what is allowed>'."""

    def __init__(self, message: str) -> None:
        # Keys and values come from user files and may hold line breaks; the CLI prints one line.
        super().__init__(" ".join(message.splitlines()))


# --- message helpers, shared with torchsweep.sweeps.study.studyfile ---

def _show(value: Any) -> str:
    """A user's value as a message quotes it: short, and on one line."""
    text = json.dumps(value) if isinstance(value, str) else quote(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _or(options: Iterable[Any]) -> str:
    words = [str(o) for o in options]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _hint(word: Any, options: Iterable[str]) -> str:
    # Only text is compared: str() of a list built from YAML aliases can be enormous.
    close = difflib.get_close_matches(word, list(options), n=1) if isinstance(word, str) else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _choice(value: Any, options: Iterable[str], where: str) -> str:
    options = list(options)
    if not isinstance(value, str) or value not in options:
        raise SpaceError(f"{where}: expected {_or(options)}, got {_show(value)}"
                         f"{_hint(value, options)}")
    return value


def _check_keys(mapping: Mapping, known: Iterable[str], where: str, what: str = "") -> None:
    known = list(known)
    for key in mapping:
        if key not in known:
            at = f"{where}.{key}" if where else str(key)
            hint = _hint(key, known) or f"; known keys: {', '.join(known)}"
            raise SpaceError(f"{at}: unknown key{what}{hint}")


def _number(value: Any, where: str, *, integer: bool = False) -> int | float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise SpaceError(f"{where}: expected {kind}, got {_show(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond float range
        finite = False
    if not finite:
        raise SpaceError(f"{where}: expected {kind} within floating-point range, "
                         f"got {_show(value)}")
    return value


def _mapping(value: Any, where: str, example: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SpaceError(f"{where}: expected a mapping such as {example}, got {_show(value)}")
    return value


def _checked(name: str, value: Any, where: str, *, reached_by: str = "") -> Any:
    """check_setting, with its complaint re-addressed to where the value was written."""
    try:
        return check_setting(name, value)
    except ConfigError as error:
        complaint = str(error).removeprefix(f"{name}: ")
    except OverflowError:  # an int too large for a float setting
        complaint = f"expected {allowed(name)}, got a number beyond floating-point range"
    lead = f"the {reached_by} range reaches {_num(value)}; " if reached_by else ""
    raise SpaceError(f"{where}: {lead}{complaint}")


def _num(x: Any) -> str:
    """Numbers for people: 3, 0.25, 1e-4."""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return _show(x)
    if not isinstance(x, float):
        return str(x)
    if x == 0 or 1e-2 <= abs(x) < 1e4:
        return f"{x:.4g}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


# --- distributions ---

def _same(p: "Parameter", x: float) -> float:
    return x


def _inverse(p: "Parameter", x: float) -> float:
    return 1 / x


def _normal(p: "Parameter", u: float) -> float:
    return p.mu + p.sigma * NormalDist().inv_cdf(u)


def _log_normal(p: "Parameter", u: float) -> float:
    return math.exp(_normal(p, u))


def _pick(p: "Parameter", u: float) -> Any:
    """W&B's categorical_w_probabilities: the first value whose cumulative share exceeds u."""
    total = sum(p.probabilities)
    for value, edge in zip(p.values, accumulate(p.probabilities)):
        if u < edge / total:
            return value
    # u at 1.0: the last value that has any probability
    return next(v for v, share in zip(reversed(p.values), reversed(p.probabilities)) if share > 0)


def _quantized(decode: Callable) -> Callable:
    def quantize(p: "Parameter", x: float) -> int | float:
        steps = round(decode(p, x) / p.q)
        if isinstance(p.q, int):
            return steps * p.q  # an int q keeps the result an int, as W&B does
        # 473 * 1e-05 is 0.004730000000000001: round away the float noise far below the step.
        return round(steps * p.q, 6 - math.floor(math.log10(p.q)))
    return quantize


def _linear(p: "Parameter") -> tuple[float, float, bool]:
    return p.min, p.max, False


def _log_values(p: "Parameter") -> tuple[float, float, bool]:
    return p.min, p.max, True


def _log_exponents(p: "Parameter") -> tuple[float, float, bool]:
    return math.exp(p.min), math.exp(p.max), True


def _inverse_values(p: "Parameter") -> tuple[float, float, bool]:
    return 1 / p.max, 1 / p.min, True


def _quantile(p: "Parameter") -> tuple[float, float, bool]:
    return QUANTILE_EDGE, 1 - QUANTILE_EDGE, False


def _unit(p: "Parameter") -> tuple[float, float, bool]:
    return 0.0, 1.0, False


@dataclass(frozen=True)
class _Form:
    """What a W&B distribution takes, and how it is drawn with Optuna."""
    required: tuple[str, ...]
    defaults: Mapping[str, float] = field(default_factory=dict)  # W&B's, for optional keys
    # (low, high, log) of the float Optuna draws; None: no float draw (constant, categorical, int)
    latent: Callable[["Parameter"], tuple[float, float, bool]] | None = None
    # maps the draw to the value; None: the draw is the value, stored under the parameter's name
    decode: Callable[["Parameter", float], Any] | None = None
    positive: bool = False  # bounds are values on a log scale
    integer: bool = False   # bounds are integers
    ends: tuple[str | None, str | None] = ("min", "max")  # the key setting the draw's low/high end

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.required, *self.defaults)


_BOUNDS = ("min", "max")
_Q = {"q": 1.0}
_GAUSS = {"mu": 0.0, "sigma": 1.0}
_NO_ENDS = (None, None)
_FORMS: dict[str, _Form] = {
    "constant": _Form(("value",)),
    "categorical": _Form(("values",)),
    "categorical_w_probabilities": _Form(("values", "probabilities"), latent=_unit, decode=_pick),
    "int_uniform": _Form(_BOUNDS, integer=True),
    "uniform": _Form(_BOUNDS, latent=_linear),
    "q_uniform": _Form(_BOUNDS, _Q, latent=_linear, decode=_quantized(_same)),
    "log_uniform": _Form(_BOUNDS, latent=_log_exponents),
    "log_uniform_values": _Form(_BOUNDS, latent=_log_values, positive=True),
    "q_log_uniform": _Form(_BOUNDS, _Q, latent=_log_exponents, decode=_quantized(_same)),
    "q_log_uniform_values": _Form(_BOUNDS, _Q, latent=_log_values, decode=_quantized(_same),
                                  positive=True),
    "inv_log_uniform": _Form(_BOUNDS, latent=_log_exponents, decode=_inverse),
    "inv_log_uniform_values": _Form(_BOUNDS, latent=_inverse_values, decode=_inverse,
                                    positive=True, ends=("max", "min")),
    "normal": _Form((), _GAUSS, latent=_quantile, decode=_normal, ends=_NO_ENDS),
    "q_normal": _Form((), {**_GAUSS, **_Q}, latent=_quantile, decode=_quantized(_normal),
                      ends=_NO_ENDS),
    "log_normal": _Form((), _GAUSS, latent=_quantile, decode=_log_normal, ends=_NO_ENDS),
    "q_log_normal": _Form((), {**_GAUSS, **_Q}, latent=_quantile,
                          decode=_quantized(_log_normal), ends=_NO_ENDS),
}
DISTRIBUTIONS = tuple(_FORMS)
_PARAMETER_KEYS = tuple(dict.fromkeys(
    ["distribution", *(key for form in _FORMS.values() for key in form.keys), "when"]))
# Distributions whose every value is known up front: `when` may test them, grid may walk them.
_DISCRETE = ("constant", "categorical", "categorical_w_probabilities", "int_uniform")


def _encode(value: Any) -> Any:
    """A categorical choice as Optuna stores it: scalars as they are, anything else as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


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
    when: tuple[tuple[str, tuple], ...] | None = None
    # Where it was written (`parameters.lr`, `--param lr`), for messages; not part of its value.
    where: str = field(default="", compare=False, repr=False)

    def suggest(self, trial: Any) -> Any:
        """Draw with an Optuna trial; returns the decoded, validated value."""
        form = _FORMS[self.distribution]
        if self.distribution == "constant":
            value = self.value
        elif self.distribution == "categorical":
            choices = [_encode(v) for v in self.values]
            value = self.values[choices.index(trial.suggest_categorical(self.name, choices))]
        elif self.distribution == "int_uniform":
            value = trial.suggest_int(self.name, self.min, self.max)
        else:
            low, high, log = form.latent(self)
            if form.decode is None:
                value = trial.suggest_float(self.name, low, high, log=log)
            else:
                draw = trial.suggest_float(self.name + LATENT, low, high, log=log)
                value = form.decode(self, draw)
        return _checked(self.name, value, f"parameters.{self.name}")

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

    def describe(self) -> str:
        """Short text for a table, `when` aside: '{16, 32, 64}', 'log-uniform 1e-4..0.1'."""
        d = self.distribution
        if d == "constant":
            return f"fixed {_num(self.value)}"
        if d == "categorical":
            return "{" + ", ".join(_num(v) for v in self.values) + "}"
        if d == "categorical_w_probabilities":
            return "{" + ", ".join(f"{_num(v)} {share:.0%}"
                                   for v, share in zip(self.values, self.probabilities)) + "}"
        if d == "int_uniform":
            return f"integer {self.min}..{self.max}"
        step = f" step {_num(self.q)}" if d.startswith("q_") else ""
        if self.mu is not None:
            kind = "log-normal" if "log" in d else "normal"
            return f"{kind} mu={_num(self.mu)} sigma={_num(self.sigma)}{step}"
        low, high, _ = _FORMS[d].latent(self)
        if d.startswith("inv"):  # the value is 1 / the draw
            return f"inverse log-uniform {_num(1 / high)}..{_num(1 / low)}"
        kind = "log-uniform" if "log" in d else "uniform"
        return f"{kind} {_num(low)}..{_num(high)}{step}"

    def to_dict(self) -> dict:
        """The W&B block, with distribution and defaults spelt out; parse_parameter reads it."""
        doc: dict[str, Any] = {"distribution": self.distribution}
        for key in _FORMS[self.distribution].keys:
            value = getattr(self, key)
            doc[key] = list(value) if isinstance(value, tuple) else value
        if self.when:
            doc["when"] = {parent: list(values) for parent, values in self.when}
        return doc


# --- parsing one parameter block ---

def parse_parameter(name: str, spec: Mapping, *, where: str) -> Parameter:
    """One W&B parameter block for the TrainConfig setting `name`."""
    if not isinstance(name, str) or name not in FIELDS:
        raise SpaceError(f"{where}: {unknown_setting_message(str(name))}")
    _mapping(spec, where, "{values: [...]} or {min: ..., max: ...}")
    if "parameters" in spec:
        raise SpaceError(f"{where}.parameters: nested parameter groups are not supported; "
                         f"TrainConfig settings are flat, so list each under parameters")
    distribution = _infer_distribution(spec, where)
    form = _FORMS[distribution]
    _check_keys(spec, ("distribution", *form.keys, "when"), where, f" for {distribution}")
    missing = [key for key in form.required if key not in spec]
    if missing:
        raise SpaceError(f"{where}: {distribution} needs {' and '.join(missing)}")
    given = {key: spec.get(key, form.defaults.get(key)) for key in form.keys}
    for key in ("min", "max", "q", "mu", "sigma"):
        if key in given:
            given[key] = _number(given[key], f"{where}.{key}", integer=form.integer)
    _check_shape(given, form, where)
    if "value" in given:
        given["value"] = _checked(name, given["value"], f"{where}.value")
    if "values" in given:
        given["values"] = _parse_values(name, given["values"], f"{where}.values")
    if "probabilities" in given:
        given["probabilities"] = _parse_probabilities(given["probabilities"], len(given["values"]),
                                                      f"{where}.probabilities")
    when = _parse_when(spec["when"], f"{where}.when") if "when" in spec else None
    parameter = Parameter(name, distribution, when=when, where=where, **given)
    _check_reach(parameter, where)
    return parameter


def _infer_distribution(spec: Mapping, where: str) -> str:
    """The explicit distribution, else W&B's inference from the keys present."""
    if "distribution" in spec:
        return _choice(spec["distribution"], DISTRIBUTIONS, f"{where}.distribution")
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "min" in spec and "max" in spec:
        integers = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in _BOUNDS)
        return "int_uniform" if integers else "uniform"
    # A misspelt key ("mx") is the likelier mistake than a missing one; say so first.
    _check_keys(spec, _PARAMETER_KEYS, where)
    raise SpaceError(f"{where}: cannot tell the distribution; give values, value, min and max, "
                     f"or a distribution ({', '.join(DISTRIBUTIONS)})")


def _check_shape(given: Mapping, form: _Form, where: str) -> None:
    if "min" in given and given["min"] >= given["max"]:
        raise SpaceError(f"{where}.min: {_num(given['min'])} is not below max "
                         f"{_num(given['max'])}; min must be less than max")
    if form.positive and given["min"] <= 0:
        raise SpaceError(f"{where}.min: {_num(given['min'])} is not positive; log-scale bounds "
                         f"must be > 0 (log_uniform, without _values, takes exponents instead)")
    for key in ("q", "sigma"):
        if key in given and given[key] <= 0:
            raise SpaceError(f"{where}.{key}: {_num(given[key])} is not positive; "
                             f"{key} must be > 0")


def _parse_values(name: str, raw: Any, where: str) -> tuple:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SpaceError(f"{where}: expected a non-empty list of {name} values, got {_show(raw)}")
    values = tuple(_checked(name, v, f"{where}[{i}]") for i, v in enumerate(raw))
    encoded = [_encode(v) for v in values]
    for i, choice in enumerate(encoded):
        if choice in encoded[:i]:
            raise SpaceError(f"{where}[{i}]: {_show(values[i])} is listed twice; "
                             f"list each value once")
    return values


def _parse_probabilities(raw: Any, count: int, where: str) -> tuple:
    if not isinstance(raw, (list, tuple)) or len(raw) != count:
        raise SpaceError(f"{where}: expected {count} probabilities, one per value, "
                         f"got {_show(raw)}")
    shares = tuple(_number(p, f"{where}[{i}]") for i, p in enumerate(raw))
    for i, share in enumerate(shares):
        if share < 0:
            raise SpaceError(f"{where}[{i}]: {_num(share)} is negative; probabilities are >= 0")
    if abs(sum(shares) - 1) > PROBABILITY_TOLERANCE:
        raise SpaceError(f"{where}: the probabilities sum to {sum(shares):.6g}; they must sum to 1")
    return shares


def _parse_when(raw: Any, where: str) -> tuple[tuple[str, tuple], ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceError(f"{where}: expected a mapping of parameter to the values that turn this "
                         f"one on, e.g. {{optimizer: [sgd]}}, got {_show(raw)}")
    conditions = []
    for parent, listed in raw.items():
        at = f"{where}.{parent}"
        if not isinstance(parent, str) or parent not in FIELDS:
            raise SpaceError(f"{at}: {unknown_setting_message(str(parent))}")
        if not isinstance(listed, list):
            conditions.append((parent, (_checked(parent, listed, at),)))
            continue
        if not listed:
            raise SpaceError(f"{at}: empty list; give the {parent} values that turn this "
                             f"parameter on")
        conditions.append((parent, tuple(_checked(parent, v, f"{at}[{i}]")
                                         for i, v in enumerate(listed))))
    return tuple(conditions)


def _check_reach(p: Parameter, where: str) -> None:
    """Every value the distribution can produce must be a valid setting.

    All decodings are monotone, so the two ends of the draw bound what it produces, and config
    settings allow an interval; checking both ends checks everything in between.
    """
    if p.distribution == "constant" or p.values is not None:
        return  # each listed value was checked as it was read
    if FIELDS[p.name].type == "int" and not (p.distribution == "int_uniform" or
                                              (p.q is not None and float(p.q).is_integer())):
        raise SpaceError(f"{where}.distribution: {p.name} takes whole numbers but "
                         f"{p.distribution} draws fractions; use int_uniform, values, or a q_ "
                         f"distribution with a whole q")
    for value, at in _range_ends(p, where):
        _checked(p.name, value, at, reached_by=p.distribution)


def _range_ends(p: Parameter, where: str) -> tuple[tuple[Any, str], ...]:
    """The values the two ends of a range produce, each with where its bound is written."""
    form = _FORMS[p.distribution]
    ends = ((p.min, "min"), (p.max, "max")) if form.latent is None else _draw_ends(p, form, where)
    return tuple((value, f"{where}.{key}" if key else where) for value, key in ends)


def _reach(p: Parameter, where: str) -> tuple[tuple[Any, str], ...]:
    """Values that stand for all `p` can take, each with where it is written: its value, each
    listed value, or the two ends of its range."""
    if p.distribution == "constant":
        return ((p.value, f"{where}.value"),)
    if p.values is not None:
        return tuple((value, f"{where}.values[{i}]") for i, value in enumerate(p.values))
    return _range_ends(p, where)


def _draw_ends(p: Parameter, form: _Form, where: str) -> tuple[tuple[Any, str | None], ...]:
    """The values the two ends of the Optuna draw decode to, each with the key that sets it."""
    try:
        low, high, log = form.latent(p)
        if math.isfinite(low) and math.isfinite(high) and low < high and (low > 0 or not log):
            decode = form.decode or _same
            return (decode(p, low), form.ends[0]), (decode(p, high), form.ends[1])
    except (OverflowError, ZeroDivisionError):
        pass
    raise SpaceError(f"{where}: the {p.distribution} range cannot be drawn in floating point; "
                     f"keep values within about 1e-300..1e300 (exponents within 690)")


# --- the whole space ---

@dataclass(frozen=True)
class SearchSpace:
    parameters: dict[str, Parameter]  # ordered as written
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

    def grid(self) -> dict[str, list]:
        """The search space of Optuna's GridSampler: every drawn parameter must be finite.

        A conditional parameter is a full dimension: where it is inactive, grid points that
        differ only in its value repeat one configuration.
        """
        grid: dict[str, list] = {}
        for p in self.parameters.values():
            if p.distribution == "categorical":
                grid[p.name] = [_encode(v) for v in p.values]
            elif p.distribution == "int_uniform" and p.max - p.min < GRID_INT_LIMIT:
                grid[p.name] = list(range(p.min, p.max + 1))
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
        return {name: p.to_dict() for name, p in self.parameters.items()}

    def constants(self) -> dict[str, Any]:
        """Settings every trial gets: the unconditional constants."""
        return {name: p.value for name, p in self.parameters.items()
                if p.distribution == "constant" and not p.when}

    def check_combinations(self) -> None:
        """Refuse settings that cannot work together, before any trial runs.

        First the fixed settings as one config (`TrainConfig` and the batch size against a
        built-in dataset); then each value a parameter can take (`_reach`) with them. In that
        check the other searched settings stand at their defaults, so a value is refused only
        when no single value of another parameter rescues it: a default the study never uses
        is not to blame. A conditional parameter is checked with its parents at values that
        turn it on.
        """
        fixed = self.constants()
        complaint = _complaint(fixed)
        if complaint:
            setting, _, text = complaint.partition(": ")
            raise SpaceError(f"{self._where(setting)}: {text}" if setting in fixed
                             else f"parameters: {complaint}")
        for name, p in self.parameters.items():
            if name in fixed:
                continue
            turned_on = {parent: listed[0] for parent, listed in p.when or ()}
            for value, at in _reach(p, self._where(name)):
                complaint = self._unrescued({**fixed, **turned_on, name: value}, name,
                                            dict(p.when or ()))
                if complaint:
                    raise SpaceError(_conflict(name, value, at, complaint))

    def _where(self, name: str) -> str:
        return self.parameters[name].where or f"parameters.{name}"

    def _unrescued(self, values: dict[str, Any], name: str,
                   parents: dict[str, tuple]) -> str | None:
        """Why `values` cannot run, unless setting one searched parameter other than `name` to
        one of its values (a parent: to one that keeps the condition) lets them."""
        complaint = _complaint(values)
        if complaint is None:
            return None
        fixed = self.constants()
        for other, q in self.parameters.items():
            if other == name or other in fixed:
                continue
            options = parents.get(other) or [value for value, _ in _reach(q, other)]
            if any(_complaint({**values, other: option}) is None for option in options):
                return None
        return complaint

    def with_parameters(self, changes: Iterable[Parameter]) -> "SearchSpace":
        """Add or replace dimensions (command-line overrides).

        A replaced parameter keeps its `when`: `--param momentum=0.8..0.95` narrows the range,
        not the structure. A condition that can no longer hold (`--set optimizer=adam` while
        momentum needs sgd) drops its parameter instead of failing.
        """
        parameters = dict(self.parameters)
        for new in changes:
            old = parameters.get(new.name)
            if old is not None and old.when:
                new = dataclasses.replace(new, when=old.when)
            parameters[new.name] = new
        return SearchSpace(_possible(parameters))


def _complaint(values: Mapping[str, Any]) -> str | None:
    """Why these settings (the rest at their defaults) cannot train together; None if they can."""
    try:
        check_batch_fits(TrainConfig.from_dict(values))
    except ConfigError as error:
        return str(error)
    return None


def _conflict(name: str, value: Any, at: str, complaint: str) -> str:
    """The message for a value that cannot work: the complaint itself when it is about this
    setting, else the value and the setting it clashes with."""
    own = f"{name}: "
    if complaint.startswith(own):
        return f"{at}: {complaint.removeprefix(own)}"
    return f"{at}: {_num(value)} cannot work with the study's other settings ({complaint})"


def parse_space(doc: Any, *, where: str = "parameters") -> SearchSpace:
    """A W&B `parameters:` mapping of setting name to parameter block.

    Unlike W&B it may be empty: a study defined on the command line starts that way and gets
    its dimensions from --param.
    """
    _mapping(doc, where, "{lr: {min: 0.001, max: 0.1}}")
    return SearchSpace({name: parse_parameter(name, spec, where=f"{where}.{name}")
                        for name, spec in doc.items()})


def _sampling_order(parameters: Mapping[str, Parameter]) -> tuple[str, ...]:
    """Validate every `when` against its parent; order parents before children."""
    for p in parameters.values():
        for parent, listed in p.when or ():
            at = f"parameters.{p.name}.when.{parent}"
            if parent == p.name or parent not in parameters:
                raise SpaceError(f"{at}: {parent} is not another parameter of this study; when can "
                                 f"only test parameters listed under parameters")
            source = parameters[parent]
            if source.distribution not in _DISCRETE:
                raise SpaceError(f"{at}: {parent} is {source.distribution}; when can only test a "
                                 f"parameter given by value, values or int_uniform")
            for value in listed:
                if not source.can_take(value):
                    raise SpaceError(f"{at}: {parent} never takes {_show(value)}; it takes "
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
    return parent is not None and parent.distribution in _DISCRETE and parent.can_take(value)


# --- command-line options ---

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(
    rf"(?P<log>log:)?(?P<low>{_NUMBER})\.\.(?P<high>{_NUMBER})(?::(?P<step>{_NUMBER}))?")
_INTEGER = re.compile(r"[-+]?\d+")
_GRAMMAR = ("expected NAME=SPEC with SPEC one of: a,b,c (choices) | LOW..HIGH (uniform) | "
            "LOW..HIGH:STEP (q_uniform) | log:LOW..HIGH[:STEP] (log-uniform) | VALUE (fixed)")


def parse_param_option(text: str) -> Parameter:
    """`--param NAME=SPEC` (grammar in the module docstring) as a Parameter."""
    name, _, spec = (part.strip() for part in text.partition("="))
    if not name or not spec:
        raise SpaceError(f"--param {_show(text)}: {_GRAMMAR}")
    if name not in FIELDS:
        raise SpaceError(f"--param {name}: {unknown_setting_message(name)}")
    return parse_parameter(name, _param_spec(name, spec, text), where=f"--param {name}")


def _param_spec(name: str, spec: str, text: str) -> dict:
    """The W&B block a --param SPEC stands for."""
    head = spec.split("..")[0]
    if spec.startswith("log:") or (".." in spec and re.fullmatch(_NUMBER, head)):
        match = _RANGE.fullmatch(spec)
        if not match:
            raise SpaceError(f"--param {_show(text)}: {_GRAMMAR}")
        low, high, step = (_scalar(match[g]) if match[g] else None for g in ("low", "high", "step"))
        integers = FIELDS[name].type == "int" and isinstance(low, int) and isinstance(high, int)
        if match["log"] and (step is not None or integers):
            return {"distribution": "q_log_uniform_values", "min": low, "max": high,
                    "q": 1 if step is None else step}
        if match["log"]:
            return {"distribution": "log_uniform_values", "min": low, "max": high}
        if step is not None:
            return {"distribution": "q_uniform", "min": low, "max": high, "q": step}
        return {"distribution": "int_uniform" if integers else "uniform", "min": low, "max": high}
    if "," in spec:
        items = [item.strip() for item in spec.split(",")]
        if not all(items):
            raise SpaceError(f"--param {_show(text)}: {_GRAMMAR}")
        return {"values": [_scalar(item) for item in items]}
    return {"value": _scalar(spec)}


def _scalar(text: str) -> Any:
    """A command-line item: int, float, true/false, else the text itself."""
    if _INTEGER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python will convert
            return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_set_option(text: str) -> tuple[str, Any]:
    """`--set NAME=VALUE`: the setting and its validated value."""
    name, sep, raw = (part.strip() for part in text.partition("="))
    if not sep or not name:
        raise SpaceError(f"--set {_show(text)}: expected NAME=VALUE, e.g. --set epochs=3")
    if name not in FIELDS:
        raise SpaceError(f"--set {name}: {unknown_setting_message(name)}")
    return name, _checked(name, raw, f"--set {name}")
