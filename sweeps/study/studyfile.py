"""Study files: YAML read safely, as W&B reads them, then validated as a study (`spec`).

PyYAML's safe loader, as W&B's (`yaml.safe_load`), with one fix for hand-written sweep files;
errors name the file, and the line for malformed YAML. What W&B's reader makes of a file
without a word is said once, with its line: a key given twice (the last one is used) and a
value listed twice (kept, as W&B's engine keeps it).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.choices import sampler_choice
from torchsweep.sweeps.study.messages import num
from torchsweep.sweeps.study.spec import StudySpec, parse_study


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus `1e-4` read as a number (as in YAML 1.2 and JSON; YAML 1.1
    reads it as text)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def load_study_file(path: str | Path, function: str | None = None) -> StudySpec:
    """Read and validate a YAML study; errors name the file, and the line for malformed YAML.
    `function` (`--function`) gives or replaces its `function:`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpaceError(f"{path}: cannot read the study file ({error})") from None
    try:
        doc, lines, twice = _read(text)
    except yaml.YAMLError as error:
        raise SpaceError(f"{path}:{_yaml_problem(error)}; fix the syntax there") from None
    except ValueError as error:  # e.g. an integer with more digits than Python converts
        raise SpaceError(f"{path}: unreadable value: {error}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise SpaceError(f"{path}: malformed YAML: nested too deeply; a study file is a "
                         f"mapping of a few levels") from None
    spec = parse_study(doc, name=path.stem, source=str(path), function=function)
    said = (*twice, *_listed_twice(spec, lines))
    return dataclasses.replace(spec, read_notices=said) if said else spec


def _read(text: str) -> tuple[Any, dict[str, int], list[str]]:
    """The document; the line of each key and item, by where messages name it
    (`parameters.lr.values[1]`: 1-based); and a notice for each key given twice."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        twice: list[str] = []
        if node is not None:
            _walk(node, "", lines, twice, set())
        return (loader.construct_document(node) if node is not None else None), lines, twice
    finally:
        loader.dispose()


def _walk(node: yaml.Node, where: str, lines: dict[str, int], twice: list[str],
          seen: set[int]) -> None:
    if id(node) in seen:   # an alias: its node was walked where it was anchored
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"{where}[{i}]"] = item.start_mark.line + 1
            _walk(item, f"{where}[{i}]", lines, twice, seen)
    elif isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            at, line = f"{where}.{key.value}" if where else key.value, key.start_mark.line + 1
            if key.value in first:
                # W&B reads its files with yaml.safe_load, which keeps the last one.
                twice.append(f"line {line}: {at} is given twice (first on line "
                             f"{first[key.value]}); the last one is used, as W&B's reader "
                             f"(PyYAML) uses it")
            first[key.value] = lines[at] = line
            _walk(value, at, lines, twice, seen)


def _listed_twice(spec: StudySpec, lines: dict[str, int]) -> list[str]:
    """A notice for each value a parameter lists again, at the line of its repeat."""
    said, grid = [], sampler_choice(spec.sampler_name()).grid
    for parameter in spec.space.parameters.values():
        for index, count in parameter.repeated().items():
            where = f"{parameter.where}.values[{index}]"
            meaning = ("the grid runs it once, as W&B's grid does" if grid else
                       f"it is drawn as {count} of the {len(parameter.values)} values, as W&B "
                       f"draws it")
            said.append(f"line {lines.get(where, '?')}: {where}: "
                        f"{num(parameter.values[index])} is listed {count} times; {meaning}")
    return said


def _yaml_problem(error: yaml.YAMLError) -> str:
    """' line 4: malformed YAML: <problem> (while parsing ... from line 3)': where PyYAML
    noticed the problem, and where what it was reading began (an unclosed bracket's line)."""
    mark = getattr(error, "problem_mark", None)
    line = f" line {mark.line + 1}:" if mark else ""
    problem = getattr(error, "problem", None) or error
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    began = f" ({context} from line {start.line + 1})" if context and start else ""
    return f"{line} malformed YAML: {problem}{began}"
