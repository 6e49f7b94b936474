"""W&B's `command:` grammar: how a trial's values become the command line of the user's program.

A command is a list of words; a word that is one of W&B's macros is replaced by its words, as
W&B's agent does it (wandb/sdk/launch/sweeps/utils.py), so a W&B sweep file runs its program
with the same arguments:

    ${env}                    /usr/bin/env
    ${interpreter}            this Python (sys.executable; W&B's agent writes `python`)
    ${program}                the study's `program:`
    ${args}                   --lr=0.01 --batch_size=64
    ${args_no_hyphens}        lr=0.01 batch_size=64
    ${args_no_boolean_flags}  --lr=0.01 --verbose   (a true bool as a flag, a false one left out)
    ${args_no_equals}         --lr 0.01 --batch_size 64
    ${args_append_hydra}      +lr=0.01   (Hydra's append)
    ${args_override_hydra}    ++lr=0.01  (Hydra's override)
    ${args_json}              {"lr": 0.01, "batch_size": 64}
    ${args_json_file}         the path of a file holding that JSON
    ${envvar:NAME}            the environment variable NAME (inside a word too)

Without `command:` the default is W&B's: ${env} ${interpreter} ${program} ${args}. Values are
written as Python writes them (`str(value)`), as in W&B.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Mapping, Sequence

from torchsweep.sweeps.errors import SpaceError

DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")
ARGUMENT_MACROS = ("args", "args_no_hyphens", "args_no_boolean_flags", "args_no_equals",
                   "args_append_hydra", "args_override_hydra", "args_json", "args_json_file")
MACROS = ("env", "interpreter", "program", *ARGUMENT_MACROS)
_MACRO = re.compile(r"\$\{([A-Za-z_]+)\}")
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")


def check_command(words: Sequence[str], program: str | None) -> None:
    """Refuse, before any trial, a macro W&B does not know (its agent would drop it silently)
    and a ${program} with no program to stand for."""
    for i, word in enumerate(words):
        for name in _MACRO.findall(word):
            if name not in MACROS:
                raise SpaceError(f"command[{i}]: unknown macro ${{{name}}}; W&B's are "
                                 f"{', '.join('${' + m + '}' for m in MACROS)} and "
                                 f"${{envvar:NAME}}")
        if "${program}" in word and program is None:
            raise SpaceError(f"command[{i}]: ${{program}} needs a program: key naming the "
                             f"script to run")


def build_command(words: Sequence[str] | None, *, program: str | None,
                  values: Mapping[str, Any], json_file: str) -> list[str]:
    """The command line of one trial: `words` (or W&B's default) with every macro replaced."""
    replacements = {"env": ["/usr/bin/env"], "interpreter": [sys.executable],
                    "program": [program] if program is not None else [],
                    "args_json_file": [json_file], **argument_words(values)}
    command = []
    for word in (_environment(word) for word in (words or DEFAULT_COMMAND)):
        whole = _MACRO.fullmatch(word)
        command += replacements[whole[1]] if whole else [word]
    return command


def argument_words(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """The words of each argument macro for these values, in W&B's formats."""
    pairs = [f"{name}={value}" for name, value in values.items()]
    return {
        "args": [f"--{pair}" for pair in pairs],
        "args_no_hyphens": pairs,
        "args_no_boolean_flags": [
            f"--{name}" if value is True else f"--{name}={value}"
            for name, value in values.items() if value is not False],
        "args_no_equals": [word for name, value in values.items()
                           for word in (f"--{name}", str(value))],
        "args_append_hydra": [f"+{pair}" for pair in pairs],
        "args_override_hydra": [f"++{pair}" for pair in pairs],
        "args_json": [json_text(values)],
    }


def json_text(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values))


def _environment(word: str) -> str:
    """${envvar:NAME} -> the variable's value (W&B leaves NAME when it is unset)."""
    return _ENVVAR.sub(lambda found: os.environ.get(found[1], found[1]), word)
