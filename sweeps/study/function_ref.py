"""A study's `function:` (and `--function`): the user's Python function, as `package.module:name`.

A study made in Python records the function it runs by where it is defined, importable or
not (a notebook's is `__main__:train`): `sweep show` says what ran, and `sweep worker`, `sweep
launch` and `sweep run --function` import an importable one. Only the text is checked here;
importing it is the engine's (engine/function/reference.py).
"""
from __future__ import annotations

import re
from typing import Any

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.messages import show

_IDENTIFIERS = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
FUNCTION_REF = re.compile(rf"({_IDENTIFIERS}):({_IDENTIFIERS})")
EXAMPLE = "package.module:function"


def parse_function_ref(value: Any, where: str = "function") -> str:
    """`value` when it names a function as `package.module:name`; SpaceError otherwise."""
    if not isinstance(value, str) or not FUNCTION_REF.fullmatch(value):
        raise SpaceError(f"{where}: expected {EXAMPLE} (a module Python can import, a colon, "
                         f"the function's name), got {show(value)}")
    return value
