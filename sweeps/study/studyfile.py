"""Study files: a W&B sweep configuration, validated into a `StudySpec`.

A person's W&B sweep YAML runs unchanged. Top-level keys (W&B's unless marked ours):

    method             required, as in W&B: grid, random or bayes (Optuna's grid, random, tpe)
    parameters         required: setting name -> W&B parameter block (see `parameter`)
    metric             {name, goal, target}: name is a metric the trainer reports (default
                       val_acc); goal defaults to that metric's direction, not W&B's minimize
    early_terminate    {type: hyperband, min_iter (or max_iter and s), eta (default 3)}
    run_cap            the most trials the study runs
    name, description  text; name defaults to the file's stem
    sampler (ours)     tpe, random, grid, cmaes, qmc or gp; overrides method
    pruner (ours)      median, hyperband, successive_halving or none; overrides early_terminate
    keep_top_k (ours)  how many of the best trials keep their checkpoints
    trials (ours)      the default trial count for `sweep run`

Accepted but not applied (named in `StudySpec.ignored`, given back by `to_dict`): program,
command, entity, project, controller, job, image_uri, apiVersion, kind, metric.impute,
metric.impute_while_running, early_terminate.strict. Refused with a reason: metrics
(multi-objective) and scheduler (W&B's custom schedulers).

Hyperband given as max_iter and s is turned into its first band exactly as W&B's
`hyperband_stopping.py` computes bands: divide max_iter by eta up to s times, stopping before
the band drops below 1, truncating each band to an integer.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.choices import GOALS, METHODS, PRUNERS, SAMPLERS
from torchsweep.sweeps.study.messages import check_keys, choice, mapping, number, show
from torchsweep.sweeps.study.options import parse_param_option, parse_set_option
from torchsweep.sweeps.study.parameter import Parameter
from torchsweep.sweeps.study.space import SearchSpace, parse_space
from torchsweep.trainer.config import EPOCH_METRICS

HYPERBAND_ETA = 3  # W&B's default
# W&B keys a file may carry that mean nothing to a local Optuna study.
IGNORED_KEYS = ("program", "command", "entity", "project", "controller", "job", "image_uri",
                "apiVersion", "kind")
_OURS = ("sampler", "pruner", "keep_top_k", "trials")
TOP_LEVEL_KEYS = ("name", "description", "method", "metric", "run_cap", "parameters",
                  "early_terminate", *_OURS, *IGNORED_KEYS)
# W&B features with no counterpart here, refused with a reason rather than a spelling hint.
_UNSUPPORTED = {
    "metrics": "multi-objective studies are not supported; optimise one metric",
    "scheduler": "W&B custom schedulers are not supported; use sampler and pruner",
}


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    name: str
    source: str                 # file path, 'bundled', or 'command line'
    description: str = ""
    method: str = "bayes"       # grid | random | bayes
    metric: str = "val_acc"     # a key of EPOCH_METRICS
    goal: str = "maximize"      # maximize | minimize
    target: float | None = None
    run_cap: int | None = None
    space: SearchSpace
    sampler: str | None = None  # overrides method
    pruner: str | None = None   # overrides early_terminate
    early_terminate: dict | None = None  # {'type': 'hyperband', 'min_iter': int, 'eta': int}
    keep_top_k: int | None = None
    trials: int | None = None
    ignored: tuple[str, ...] = ()  # keys accepted but not applied; the CLI names them once
    # Their values, kept only so to_dict gives the user's document back.
    ignored_values: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Here rather than in parse_study so that with_options is held to it too.
        try:
            self.space.check_combinations()
            if self.sampler_name() == "grid":
                self.space.grid()
        except SpaceError as error:
            raise SpaceError(f"{self.source}: {error}") from None

    def sampler_name(self) -> str:
        return self.sampler or METHODS[self.method]

    def pruner_name(self) -> str:
        return self.pruner or ("hyperband" if self.early_terminate else "median")

    def to_dict(self) -> dict:
        """The W&B-style document; parse_study reads it back to an equal spec."""
        doc: dict[str, Any] = {"name": self.name}
        if self.description:
            doc["description"] = self.description
        doc["method"] = self.method
        doc["metric"] = {"name": self.metric, "goal": self.goal}
        if self.target is not None:
            doc["metric"]["target"] = self.target
        optional = {"run_cap": self.run_cap, "early_terminate": self.early_terminate,
                    "sampler": self.sampler, "pruner": self.pruner,
                    "keep_top_k": self.keep_top_k, "trials": self.trials}
        doc.update({key: dict(v) if isinstance(v, dict) else v
                    for key, v in optional.items() if v is not None})
        doc["parameters"] = self.space.to_dict()
        for dotted, value in self.ignored_values.items():
            head, _, key = dotted.partition(".")
            if key:
                doc[head][key] = value
            else:
                doc[head] = value
        return doc

    def with_options(self, params: Sequence[str] = (), sets: Sequence[str] = ()) -> "StudySpec":
        """Apply `--param NAME=SPEC` (add or replace a dimension), `--set NAME=VALUE` (fix one)."""
        changes = [parse_param_option(text) for text in params]
        changes += [Parameter(name, "constant", value=value, where=f"--set {name}")
                    for name, value in map(parse_set_option, sets)]
        return dataclasses.replace(self, space=self.space.with_parameters(changes))


def parse_study(doc: Any, *, name: str, source: str) -> StudySpec:
    """Validate a whole W&B sweep document; every error starts with `source`."""
    try:
        fields = _parse_fields(doc, name)
    except SpaceError as error:
        raise SpaceError(f"{source}: {error}") from None
    return StudySpec(source=source, **fields)


def _parse_fields(doc: Any, default_name: str) -> dict[str, Any]:
    doc = mapping(doc, "top level", "{method: bayes, parameters: {...}}")
    for key, reason in _UNSUPPORTED.items():
        if key in doc:
            raise SpaceError(f"{key}: {reason}")
    check_keys(doc, TOP_LEVEL_KEYS, "")
    for key in ("method", "parameters"):
        if key not in doc:
            raise SpaceError(f"{key}: missing; a W&B sweep file needs method and parameters")
    ignored = {key: doc[key] for key in IGNORED_KEYS if key in doc}
    fields: dict[str, Any] = {
        "name": _text(doc.get("name", default_name), "name", empty=False),
        "description": _text(doc.get("description", ""), "description"),
        "method": choice(doc["method"], METHODS, "method"),
        **_parse_metric(doc.get("metric"), ignored),
        "space": parse_space(doc["parameters"]),
        "early_terminate": (_parse_early_terminate(doc["early_terminate"], ignored)
                            if "early_terminate" in doc else None),
        "sampler": _optional(doc, "sampler", lambda v: choice(v, SAMPLERS, "sampler")),
        "pruner": _optional(doc, "pruner", lambda v: choice(v, PRUNERS, "pruner")),
        "run_cap": _optional(doc, "run_cap", lambda v: _count(v, "run_cap", 1)),
        "keep_top_k": _optional(doc, "keep_top_k", lambda v: _count(v, "keep_top_k", 0)),
        "trials": _optional(doc, "trials", lambda v: _count(v, "trials", 1)),
    }
    return {**fields, "ignored": tuple(ignored), "ignored_values": ignored}


def _optional(doc: Mapping, key: str, parse: Callable[[Any], Any]) -> Any:
    return parse(doc[key]) if key in doc else None


def _text(value: Any, where: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or not (empty or value):
        kind = "text" if empty else "non-empty text"
        raise SpaceError(f"{where}: expected {kind}, got {show(value)}")
    return value


def _count(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpaceError(f"{where}: expected an integer >= {minimum}, got {show(value)}")
    return value


def _parse_metric(raw: Any, ignored: dict[str, Any]) -> dict[str, Any]:
    if raw is None:
        return {"metric": "val_acc", "goal": EPOCH_METRICS["val_acc"], "target": None}
    raw = mapping(raw, "metric", "{name: val_acc, goal: maximize}")
    check_keys(raw, ("name", "goal", "target", "impute", "impute_while_running"), "metric")
    ignored.update({f"metric.{key}": raw[key] for key in ("impute", "impute_while_running")
                    if key in raw})
    metric = choice(raw.get("name"), EPOCH_METRICS, "metric.name")
    return {"metric": metric,
            "goal": choice(raw.get("goal", EPOCH_METRICS[metric]), GOALS, "metric.goal"),
            "target": number(raw["target"], "metric.target") if "target" in raw else None}


def _parse_early_terminate(raw: Any, ignored: dict[str, Any]) -> dict[str, Any]:
    where = "early_terminate"
    raw = mapping(raw, where, "{type: hyperband, min_iter: 3}")
    check_keys(raw, ("type", "min_iter", "max_iter", "s", "eta", "strict"), where)
    choice(raw.get("type"), ("hyperband",), f"{where}.type")
    if "strict" in raw:
        ignored[f"{where}.strict"] = raw["strict"]
    eta = number(raw.get("eta", HYPERBAND_ETA), f"{where}.eta")
    # W&B takes any eta > 1; Optuna's reduction factor is a whole number.
    if eta < 2 or not float(eta).is_integer():
        raise SpaceError(f"{where}.eta: expected a whole number >= 2, got {show(eta)}")
    eta = int(eta)
    if "max_iter" in raw and "s" in raw:  # W&B prefers max_iter + s when both forms are given
        max_iter = number(raw["max_iter"], f"{where}.max_iter", integer=True)  # float-sized
        min_iter = _first_band(_count(max_iter, f"{where}.max_iter", 1),
                               _count(raw["s"], f"{where}.s", 1), eta)
    elif "min_iter" in raw:
        min_iter = _count(raw["min_iter"], f"{where}.min_iter", 1)
    else:
        raise SpaceError(f"{where}: give min_iter, or max_iter and s; hyperband needs its bands")
    return {"type": "hyperband", "min_iter": min_iter, "eta": eta}


def _first_band(max_iter: int, s: int, eta: int) -> int:
    """The smallest of W&B's bands: max_iter / eta**k, truncated, for k up to s while >= 1."""
    band, first = float(max_iter), None
    for _ in range(s):
        band /= eta
        if band < 1:
            break
        first = int(band)
    if first is None:
        raise SpaceError(f"early_terminate.max_iter: {max_iter} / eta {eta} is below 1, so "
                         f"hyperband has no band; raise max_iter or lower eta")
    return first


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus two fixes for hand-written sweep files: `1e-4` is a number (as
    in YAML 1.2 and JSON; YAML 1.1 reads it as text), and a key written twice is an error instead
    of silently the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def load_study_file(path: str | Path) -> StudySpec:
    """Read and validate a YAML study; errors name the file, and the line for malformed YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpaceError(f"{path}: cannot read the study file ({error})") from None
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise SpaceError(f"{path}:{_yaml_problem(error)}; fix the syntax there") from None
    except ValueError as error:  # e.g. an integer with more digits than Python converts
        raise SpaceError(f"{path}: unreadable value: {error}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise SpaceError(f"{path}: malformed YAML: nested too deeply; a study file is a "
                         f"mapping of a few levels") from None
    return parse_study(doc, name=path.stem, source=str(path))


def _yaml_problem(error: yaml.YAMLError) -> str:
    """' line 4: malformed YAML: <problem> (while parsing ... from line 3)': where PyYAML
    noticed the problem, and where what it was reading began (an unclosed bracket's line)."""
    mark = getattr(error, "problem_mark", None)
    line = f" line {mark.line + 1}:" if mark else ""
    problem = getattr(error, "problem", None) or error
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    began = f" ({context} from line {start.line + 1})" if context and start else ""
    return f"{line} malformed YAML: {problem}{began}"
