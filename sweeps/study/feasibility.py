"""Settings that cannot work together, refused before any trial runs.

The study's rules say what cannot work together (for the trainer: `TrainConfig`, and the batch
size against a built-in dataset; a user's program is not judged). First the fixed settings as
one config; then each value a parameter can take (`reach`) with them. In that check the other
searched settings stand at their defaults, so a value is refused only when no single value of
another parameter rescues it: a default the study never uses is not to blame. A conditional
parameter is checked with its parents at values that turn it on.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchsweep.sweeps.errors import ConfigError, SpaceError
from torchsweep.sweeps.study.messages import num
from torchsweep.sweeps.study.parameter import reach

if TYPE_CHECKING:
    from torchsweep.sweeps.study.space import SearchSpace


def check_combinations(space: SearchSpace) -> None:
    """Raise SpaceError, naming where the value was written, for settings that cannot train."""
    fixed = space.constants()
    complaint = space.rules.complaint(fixed)
    if complaint:
        raise SpaceError(f"{space.where(complaint.setting)}: {complaint.problem}"
                         if complaint.setting in fixed else f"parameters: {complaint}")
    for name, p in space.parameters.items():
        if name in fixed:
            continue
        turned_on = {parent: listed[0] for parent, listed in p.when or ()}
        for value, at in reach(p, space.where(name)):
            complaint = _unrescued(space, {**fixed, **turned_on, name: value}, name,
                                   dict(p.when or ()))
            if complaint:
                raise SpaceError(_conflict(name, value, at, complaint))


def _unrescued(space: SearchSpace, values: dict[str, Any], name: str,
               parents: dict[str, tuple]) -> ConfigError | None:
    """Why `values` cannot run, unless setting one searched parameter other than `name` to one
    of its values (a parent: to one that keeps the condition) lets them."""
    complaint = space.rules.complaint(values)
    if complaint is None:
        return None
    fixed = space.constants()
    for other, q in space.parameters.items():
        if other == name or other in fixed:
            continue
        options = parents.get(other) or [value for value, _ in reach(q, other)]
        if any(space.rules.complaint({**values, other: option}) is None for option in options):
            return None
    return complaint


def _conflict(name: str, value: Any, at: str, complaint: ConfigError) -> str:
    """The message for a value that cannot work: the complaint itself when it is about this
    setting, else the value and the setting it clashes with."""
    if complaint.setting == name:
        return f"{at}: {complaint.problem}"
    return f"{at}: {num(value)} cannot work with the study's other settings ({complaint})"
