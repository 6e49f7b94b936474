"""Whose settings a study searches, and what makes a value of one valid.

A study searches either the training core's settings (`TrainConfig`: names, types and ranges
are known, and settings that cannot train together are refused before a trial runs) or the
settings of the user's own program (`program:`/`command:` in the study file, as W&B's agent
runs it): there, names are the program's own and are held only to W&B's schema, and values
are passed through as written, since only the program knows what it accepts.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from torchsweep.sweeps.errors import ConfigError, SpaceError, UnknownSetting
from torchsweep.sweeps.study.messages import num
from torchsweep.trainer.config import (
    FIELDS,
    TrainConfig,
    allowed,
    check_batch_fits,
    check_setting,
    unknown_setting_message,
)

# W&B's sweep schema: `parameters` property names.
PROGRAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_INTEGER = re.compile(r"[-+]?\d+")


@dataclass(frozen=True)
class Rules:
    """The trainer's rules; `ProgramRules` relaxes them for a user's program."""

    kind = "trainer"

    def __reduce__(self) -> str:
        # One instance of each, compared by identity (`rules is PROGRAM`): a spec pickled to a
        # worker process gets the same one back, by its name in this module.
        return self.kind.upper()

    def check_name(self, name: Any, where: str) -> str:
        if not isinstance(name, str) or name not in FIELDS:
            raise UnknownSetting(f"{where}: {unknown_setting_message(str(name))}")
        return name

    def check_group(self, key: Any, where: str) -> str:
        """A key of W&B's nested groups (`optim: {parameters: {...}}`). The trainer's settings
        are flat, so a group only gathers settings; one named as a setting is a mistake."""
        PROGRAM.check_name(key, where)
        if key in FIELDS:
            raise SpaceError(f"{where}: {key} is a training setting, not a group of them; give "
                             f"it a value, and name the group otherwise")
        return key

    def name_of(self, path: tuple[str, ...]) -> str:
        """The name of the parameter at `path` in nested groups: for the trainer, its setting
        (`optim: {parameters: {lr, momentum}}` searches lr and momentum)."""
        return path[-1]

    def check_value(self, name: str, value: Any, where: str, *, reached_by: str = "") -> Any:
        """The value as the setting takes it; SpaceError, addressed to `where`, if it cannot."""
        try:
            return check_setting(name, value)
        except ConfigError as error:
            complaint = error.problem
        except OverflowError:  # an int too large for a float setting
            complaint = f"expected {allowed(name)}, got a number beyond floating-point range"
        lead = f"the {reached_by} range reaches {num(value)}; " if reached_by else ""
        raise SpaceError(f"{where}: {lead}{complaint}")

    def requires_integers(self, name: str) -> bool:
        """Whether every value must be a whole number (a range must draw integers)."""
        return FIELDS[name].type == "int"

    def integer_range(self, name: str, low: Any, high: Any) -> bool:
        """Whether a `--param LOW..HIGH` range draws integers: for the trainer, integer bounds of
        an integer setting (`momentum=0..1` is 0 to 1, not {0, 1})."""
        return _integers(low, high) and self.requires_integers(name)

    def read(self, text: str) -> Any:
        """A `--set` VALUE as written: the setting parses it by its own type."""
        return text

    def complaint(self, values: Mapping[str, Any]) -> ConfigError | None:
        """Why these settings (the rest at their defaults) cannot train together, or None."""
        try:
            check_batch_fits(TrainConfig.from_dict(values))
        except ConfigError as error:
            return error
        return None


@dataclass(frozen=True)
class ProgramRules(Rules):
    kind = "program"

    def check_name(self, name: Any, where: str) -> str:
        if not isinstance(name, str) or not PROGRAM_NAME.fullmatch(name):
            raise SpaceError(f"{where}: {name!r} is not a parameter name W&B allows; use "
                             f"letters, digits, '_', '.' and '-', starting with a letter or '_'")
        return name

    def check_group(self, key: Any, where: str) -> str:
        return self.check_name(key, where)

    def name_of(self, path: tuple[str, ...]) -> str:
        """W&B's nested groups reach the program as nested values; Optuna names the parameter
        by its path (`optim.lr`)."""
        return ".".join(path)

    def check_value(self, name: str, value: Any, where: str, *, reached_by: str = "") -> Any:
        return value

    def requires_integers(self, name: str) -> bool:
        return False

    def integer_range(self, name: str, low: Any, high: Any) -> bool:
        return _integers(low, high)   # as W&B infers a range's type: from its bounds

    def read(self, text: str) -> Any:
        return read_item(text)

    def complaint(self, values: Mapping[str, Any]) -> ConfigError | None:
        return None


TRAINER = Rules()
PROGRAM = ProgramRules()


def _integers(low: Any, high: Any) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) for x in (low, high))


def read_item(text: str) -> Any:
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
