"""The command line's one grammar for settings: `--param` (a search dimension) and `--set`.

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

`--set NAME=VALUE` fixes one setting (`sweep run`, `sweep train`): VALUE is read as the
setting's type and validated like a value in a study file.
"""
from __future__ import annotations

import re
from typing import Any

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.messages import show
from torchsweep.sweeps.study.parameter import Parameter, parse_parameter
from torchsweep.sweeps.study.rules import TRAINER, Rules, read_item

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(
    rf"(?P<log>log:)?(?P<low>{_NUMBER})\.\.(?P<high>{_NUMBER})(?::(?P<step>{_NUMBER}))?")
_GRAMMAR = ("expected NAME=SPEC with SPEC one of: a,b,c (choices) | LOW..HIGH (uniform) | "
            "LOW..HIGH:STEP (q_uniform) | log:LOW..HIGH[:STEP] (log-uniform) | VALUE (fixed)")


def parse_param_option(text: str, rules: Rules = TRAINER) -> Parameter:
    """`--param NAME=SPEC` (grammar in the module docstring) as a Parameter."""
    name, _, spec = (part.strip() for part in text.partition("="))
    if not name or not spec:
        raise SpaceError(f"--param {show(text)}: {_GRAMMAR}")
    rules.check_name(name, f"--param {name}")
    return parse_parameter(name, _param_spec(name, spec, text, rules), where=f"--param {name}",
                           rules=rules)


def _looks_like_range(spec: str) -> bool:
    """`log:...`, or `..` after a number or before one: a range, held to its grammar (a missing
    bound, a third dot or trailing text is refused). Other text with `..` in it (a program's
    `../data`) is a value."""
    low, dots, high = spec.partition("..")
    return spec.startswith("log:") or bool(dots) and (
        re.fullmatch(rf"\s*{_NUMBER}\s*", low) is not None
        or re.match(rf"[.\s]*{_NUMBER}", high) is not None)


def _param_spec(name: str, spec: str, text: str, rules: Rules) -> dict:
    """The W&B block a --param SPEC stands for."""
    if _looks_like_range(spec):
        match = _RANGE.fullmatch(spec)
        # `1e-4...1e-1` would match as 1e-4 to .1e-1: a third dot is a typo, never a number.
        if not match or "..." in spec:
            raise SpaceError(f"--param {show(text)}: {_GRAMMAR}")
        low, high, step = (read_item(match[g]) if match[g] else None
                           for g in ("low", "high", "step"))
        integers = rules.integer_range(name, low, high)
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
            raise SpaceError(f"--param {show(text)}: {_GRAMMAR}")
        return {"values": [read_item(item) for item in items]}
    return {"value": read_item(spec)}


def parse_set_option(text: str, rules: Rules = TRAINER) -> tuple[str, Any]:
    """`--set NAME=VALUE`: the setting and its validated value (for a program: read as a
    command-line item, since only the program knows its type)."""
    name, sep, raw = (part.strip() for part in text.partition("="))
    if not sep or not name:
        raise SpaceError(f"--set {show(text)}: expected NAME=VALUE, e.g. --set epochs=3")
    rules.check_name(name, f"--set {name}")
    return name, rules.check_value(name, rules.read(raw), f"--set {name}")
