"""W&B's sweep distributions, drawn with Optuna.

W&B distributions on Optuna, one `FORMS` entry each: its keys, how it is drawn and how it is
shown. Native ones are drawn under the parameter's own name; transformed
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
| beta (q_beta)               | suggest_float(latent, 1e-6, 1 - 1e-6) (2)     | Beta(a, b)^-1 (x) |
| categorical_w_probabilities | suggest_float(latent, 0, 1)                   | (3)               |

Keys: min and max bound the uniform forms; for log_uniform, q_log_uniform and inv_log_uniform
they are exponents of e, for the *_values forms the values themselves (> 0). W&B's defaults
apply: q 1.0, mu 0, sigma 1, a 1, b 1. The q_ forms round to q; as in W&B the value is an int
when q is.
(1) Choices Optuna cannot store (lists, mappings) travel as JSON text and are decoded back.
(2) Drawn as a quantile (z is the standard-normal inverse CDF, Beta(a, b)^-1 the beta one), so
    samplers see a bounded space; 1e-6 reaches 4.75 sigma. The normal family's tails reach
    any value, so its values are checked as they are drawn (see `parameter`).
(3) The first value whose cumulative probability exceeds x.
(4) W&B's ranges: inv_log_uniform_values gives min..max, inv_log_uniform e^-max..e^-min.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import accumulate
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from torchsweep.sweeps.study.messages import num

if TYPE_CHECKING:
    from torchsweep.sweeps.study.parameter import Parameter

LATENT = "~latent"
QUANTILE_EDGE = 1e-6
T = TypeVar("T")


def required(value: T | None) -> T:
    """A key the parameter's distribution requires: parsing refused the parameter without it
    (its Form's `required` and `defaults`), so here it is always there."""
    assert value is not None, "a distribution's required key is missing"
    return value


def same(p: "Parameter", x: float) -> float:
    return x


def _inverse(p: "Parameter", x: float) -> float:
    return 1 / x


def _normal(p: "Parameter", u: float) -> float:
    return required(p.mu) + required(p.sigma) * NormalDist().inv_cdf(u)


def _log_normal(p: "Parameter", u: float) -> float:
    return math.exp(_normal(p, u))


def _beta(p: "Parameter", u: float) -> float:
    from scipy.stats import beta  # only studies that draw from a beta pay for scipy

    return float(beta.ppf(u, p.a, p.b))


def _pick(p: "Parameter", u: float) -> Any:
    """W&B's categorical_w_probabilities: the first value whose cumulative share exceeds u."""
    values, shares = required(p.values), required(p.probabilities)
    total = sum(shares)
    for value, edge in zip(values, accumulate(shares)):
        if u < edge / total:
            return value
    # u at 1.0: the last value that has any probability
    return next(v for v, share in zip(reversed(values), reversed(shares)) if share > 0)


Decode = Callable[["Parameter", float], Any]


def _quantized(decode: Decode) -> Decode:
    def quantize(p: "Parameter", x: float) -> int | float:
        q = required(p.q)
        steps = round(decode(p, x) / q)
        if isinstance(q, int):
            return steps * q  # an int q keeps the result an int, as W&B does
        # 473 * 1e-05 is 0.004730000000000001: round away the float noise far below the step.
        return round(steps * q, 6 - math.floor(math.log10(q)))
    return quantize


def _linear(p: "Parameter") -> tuple[float, float, bool]:
    return required(p.min), required(p.max), False


def _log_values(p: "Parameter") -> tuple[float, float, bool]:
    return required(p.min), required(p.max), True


def _log_exponents(p: "Parameter") -> tuple[float, float, bool]:
    return math.exp(required(p.min)), math.exp(required(p.max)), True


def _inverse_values(p: "Parameter") -> tuple[float, float, bool]:
    return 1 / required(p.max), 1 / required(p.min), True


def _quantile(p: "Parameter") -> tuple[float, float, bool]:
    return QUANTILE_EDGE, 1 - QUANTILE_EDGE, False


def _unit(p: "Parameter") -> tuple[float, float, bool]:
    return 0.0, 1.0, False


# --- how a value is drawn with an Optuna trial ---

def _fixed(p: "Parameter", trial: Any) -> Any:
    return p.value


def _categorical(p: "Parameter", trial: Any) -> Any:
    values = required(p.values)
    choices = [encode(v) for v in values]
    return values[choices.index(trial.suggest_categorical(p.name, choices))]


def _integer(p: "Parameter", trial: Any) -> int:
    return trial.suggest_int(p.name, p.min, p.max)


def _float(p: "Parameter", trial: Any) -> Any:
    """A float drawn over the form's latent range: the value itself, or decoded into it."""
    form = FORMS[p.distribution]
    low, high, log = required(form.latent)(p)
    if form.decode is None:
        return trial.suggest_float(p.name, low, high, log=log)
    return form.decode(p, trial.suggest_float(p.name + LATENT, low, high, log=log))


# --- how a parameter is shown in `sweep space`, its `when` aside ---

def _step(p: "Parameter") -> str:
    return f" step {num(p.q)}" if p.q is not None else ""


def _ranged(kind: str) -> Callable[["Parameter"], str]:
    def describe(p: "Parameter") -> str:
        low, high, _ = required(FORMS[p.distribution].latent)(p)
        return f"{kind} {num(low)}..{num(high)}{_step(p)}"
    return describe


def _inverse_range(p: "Parameter") -> str:
    low, high, _ = required(FORMS[p.distribution].latent)(p)   # the value is 1 / the draw
    return f"inverse log-uniform {num(1 / high)}..{num(1 / low)}"


def _shaped(kind: str, *keys: str) -> Callable[["Parameter"], str]:
    def describe(p: "Parameter") -> str:
        return " ".join([kind, *(f"{key}={num(getattr(p, key))}" for key in keys)]) + _step(p)
    return describe


def _listed(p: "Parameter") -> str:
    return "{" + ", ".join(num(v) for v in required(p.values)) + "}"


def _weighted(p: "Parameter") -> str:
    shares = (f"{num(value)} {share:.0%}"
              for value, share in zip(required(p.values), required(p.probabilities)))
    return "{" + ", ".join(shares) + "}"


@dataclass(frozen=True)
class Form:
    """What a W&B distribution takes, how it is drawn with Optuna, and how it is shown."""
    required: tuple[str, ...]
    defaults: Mapping[str, float] = field(default_factory=dict)  # W&B's, for optional keys
    # (low, high, log) of the float Optuna draws; None: no float draw (constant, categorical, int)
    latent: Callable[["Parameter"], tuple[float, float, bool]] | None = None
    # maps the draw to the value; None: the draw is the value, stored under the parameter's name
    decode: Callable[["Parameter", float], Any] | None = None
    positive: bool = False  # bounds are values on a log scale
    integer: bool = False   # bounds are integers
    ends: tuple[str | None, str | None] = ("min", "max")  # the key setting the draw's low/high end
    # False for the normal family: its tails reach any value, so no value is certain up front.
    bounded: bool = True
    # Every value is known up front: `when` may test it, grid may walk it.
    discrete: bool = False
    draw: Callable[["Parameter", Any], Any] = _float   # (parameter, Optuna trial) -> value
    describe: Callable[["Parameter"], str] = _ranged("uniform")   # '{16, 32}', 'uniform 0..1'

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.required, *self.defaults)


BOUNDS = ("min", "max")
_Q = {"q": 1.0}
_GAUSS = {"mu": 0.0, "sigma": 1.0}
_BETA = {"a": 1.0, "b": 1.0}
_NO_ENDS = (None, None)
_LOG = _ranged("log-uniform")
_NORMAL, _LOG_NORMAL = _shaped("normal", "mu", "sigma"), _shaped("log-normal", "mu", "sigma")
_BETA_SHAPE = _shaped("beta", "a", "b")
FORMS: dict[str, Form] = {
    "constant": Form(("value",), discrete=True, draw=_fixed,
                     describe=lambda p: f"fixed {num(p.value)}"),
    "categorical": Form(("values",), discrete=True, draw=_categorical, describe=_listed),
    "categorical_w_probabilities": Form(("values", "probabilities"), latent=_unit, decode=_pick,
                                        discrete=True, describe=_weighted),
    "int_uniform": Form(BOUNDS, integer=True, discrete=True, draw=_integer,
                        describe=lambda p: f"integer {p.min}..{p.max}"),
    "uniform": Form(BOUNDS, latent=_linear),
    "q_uniform": Form(BOUNDS, _Q, latent=_linear, decode=_quantized(same)),
    "log_uniform": Form(BOUNDS, latent=_log_exponents, describe=_LOG),
    "log_uniform_values": Form(BOUNDS, latent=_log_values, positive=True, describe=_LOG),
    "q_log_uniform": Form(BOUNDS, _Q, latent=_log_exponents, decode=_quantized(same),
                          describe=_LOG),
    "q_log_uniform_values": Form(BOUNDS, _Q, latent=_log_values, decode=_quantized(same),
                                  positive=True, describe=_LOG),
    "inv_log_uniform": Form(BOUNDS, latent=_log_exponents, decode=_inverse,
                            describe=_inverse_range),
    "inv_log_uniform_values": Form(BOUNDS, latent=_inverse_values, decode=_inverse,
                                    positive=True, ends=("max", "min"), describe=_inverse_range),
    "normal": Form((), _GAUSS, latent=_quantile, decode=_normal, ends=_NO_ENDS, bounded=False,
                   describe=_NORMAL),
    "q_normal": Form((), {**_GAUSS, **_Q}, latent=_quantile, decode=_quantized(_normal),
                     ends=_NO_ENDS, bounded=False, describe=_NORMAL),
    "log_normal": Form((), _GAUSS, latent=_quantile, decode=_log_normal, ends=_NO_ENDS,
                       bounded=False, describe=_LOG_NORMAL),
    "q_log_normal": Form((), {**_GAUSS, **_Q}, latent=_quantile,
                         decode=_quantized(_log_normal), ends=_NO_ENDS, bounded=False,
                         describe=_LOG_NORMAL),
    "beta": Form((), _BETA, latent=_quantile, decode=_beta, ends=_NO_ENDS, describe=_BETA_SHAPE),
    "q_beta": Form((), {**_BETA, **_Q}, latent=_quantile, decode=_quantized(_beta),
                   ends=_NO_ENDS, describe=_BETA_SHAPE),
}
DISTRIBUTIONS = tuple(FORMS)
PARAMETER_KEYS = tuple(dict.fromkeys(
    ["distribution", *(key for form in FORMS.values() for key in form.keys), "when"]))
DISCRETE = tuple(name for name, form in FORMS.items() if form.discrete)


def encode(value: Any) -> Any:
    """A categorical choice as Optuna stores it: scalars as they are, anything else as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)
