"""The user's function, as a study records it and as a worker gets it.

A study records where its function is defined, `package.module:name` (study/function_ref.py).
A worker started by `Study.run` gets the function itself, by value (cloudpickle): a notebook's
function, its classes and the values it closes over travel with it. A worker that joins from
a shell (`sweep worker`, `sweep launch`, `sweep run --function`) can only import it, so only
an importable function lets them join.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Callable

from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.function_ref import EXAMPLE, FUNCTION_REF

# What `ts.sweep` records until `ts.agent` brings the function; no worker can import it.
PENDING = "__main__:function"


def reference_of(function: Callable) -> str:
    """`module:qualname`: where `function` is defined (a notebook's module is `__main__`). One
    no import can reach (a function defined in another, a lambda, a partial) is `__main__:` and
    its name, which says as much to `sweep worker`."""
    module = getattr(function, "__module__", None) or "__main__"
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    reference = f"{module}:{name}"
    if FUNCTION_REF.fullmatch(reference):
        return reference
    return f"__main__:{re.sub(r'[^A-Za-z0-9_]', '', name.rsplit('.', 1)[-1]) or 'function'}"


def import_function(reference: str) -> Callable:
    """The function `package.module:name` names; StudyError in one line when it cannot be had."""
    module_name, _, name = reference.partition(":")
    if module_name == "__main__":
        raise StudyError(f"function {reference} was defined in a notebook, a script run as "
                         f"__main__ or another function, which no other process can import; "
                         f"move it into a module and give --function {EXAMPLE}")
    try:
        found = importlib.import_module(module_name)
        for part in name.split("."):
            found = getattr(found, part)
    except ImportError as error:
        raise StudyError(f"function {reference}: cannot import {module_name} ({error}); run "
                         f"from the folder that holds it, or put it on PYTHONPATH") from None
    except AttributeError:
        raise StudyError(f"function {reference}: {module_name} has no {name}") from None
    if not callable(found):
        raise StudyError(f"function {reference}: {name} is a {type(found).__name__}, not a "
                         f"function")
    return found


def pickled(function: Callable) -> bytes:
    """The function by value, for workers in processes of their own."""
    import cloudpickle

    return cloudpickle.dumps(function)


def unpickled(data: bytes) -> Callable:
    import cloudpickle

    return cloudpickle.loads(data)


def with_function(spec: StudySpec, function: str | None) -> StudySpec:
    """A recorded study with `--function` (`sweep worker`): it replaces the recorded function
    (one moved, or a notebook's now in a module); a study of a program or the trainer has none
    to replace."""
    if function is None:
        return spec
    if spec.function is None:
        runs = "a program:" if spec.runs_program else "the trainer"
        raise StudyError(f"--function {function}: study '{spec.name}' runs {runs}, not a "
                         f"function")
    return dataclasses.replace(spec, function=function)


def check(spec: StudySpec, given: Callable | bytes | None) -> None:
    """Refuse, before anything is written, a function study whose function this process cannot
    give its workers (a study `ts.sweep` made has none yet: `ts.agent` brings it)."""
    if spec.function not in (None, PENDING) and given is None:
        import_function(spec.function)


def load(spec: StudySpec, given: Callable | bytes | None) -> Callable:
    """In a worker: the function Study.run gave (itself, or by value), else the study's,
    imported."""
    if callable(given):
        return given
    return unpickled(given) if given is not None else import_function(spec.function)
