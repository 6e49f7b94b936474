"""How the study layer words a problem: `<where>: <what is wrong>; <what is allowed>`.

Every message quotes the user's value short and on one line, names where it was written
(`parameters.lr.min`, `--param lr`) and, for a misspelt word, the likeliest meant one.
"""
from __future__ import annotations

import difflib
import json
import math
from typing import Any, Iterable, Mapping

from torchsweep.sweeps.errors import SpaceError
from torchsweep.trainer.config import quote


def show(value: Any) -> str:
    """A user's value as a message quotes it: short, and on one line."""
    text = json.dumps(value) if isinstance(value, str) else quote(value)
    return text if len(text) <= 60 else text[:57] + "..."


def either(options: Iterable[Any]) -> str:
    words = [str(o) for o in options]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


# Study names share a suffix (`_study`), which alone makes them look alike to difflib's
# default 0.6: `my_study` is no misspelling of `full_study`.
STUDY_NAME_CUTOFF = 0.75


def did_you_mean(word: Any, options: Iterable[str], cutoff: float = 0.6) -> str:
    # Only text is compared: str() of a list built from YAML aliases can be enormous.
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff) \
        if isinstance(word, str) else []
    return f"; did you mean '{close[0]}'?" if close else ""


def choice(value: Any, options: Iterable[str], where: str,
           error: type[SpaceError] = SpaceError) -> str:
    options = list(options)
    if not isinstance(value, str) or value not in options:
        raise error(f"{where}: expected {either(options)}, got {show(value)}"
                         f"{did_you_mean(value, options)}")
    return value


def check_keys(mapping: Mapping, known: Iterable[str], where: str, what: str = "") -> None:
    known = list(known)
    for key in mapping:
        if key not in known:
            at = f"{where}.{key}" if where else str(key)
            hint = did_you_mean(key, known) or f"; known keys: {', '.join(known)}"
            raise SpaceError(f"{at}: unknown key{what}{hint}")


def number(value: Any, where: str, *, integer: bool = False) -> int | float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise SpaceError(f"{where}: expected {kind}, got {show(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond float range
        finite = False
    if not finite:
        raise SpaceError(f"{where}: expected {kind} within floating-point range, "
                         f"got {show(value)}")
    return value


def count(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpaceError(f"{where}: expected an integer >= {minimum}, got {show(value)}")
    return value


def mapping(value: Any, where: str, example: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SpaceError(f"{where}: expected a mapping such as {example}, got {show(value)}")
    return value


def num(x: Any) -> str:
    """Numbers for people: 3, 0.25, 1e-4."""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return show(x)
    if not isinstance(x, float):
        return str(x)
    if x == 0 or 1e-2 <= abs(x) < 1e4:
        return f"{x:.4g}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
