"""Study files: YAML read safely and strictly, then validated as a study (`spec`).

PyYAML's safe loader, with two fixes for hand-written sweep files; errors name the file, and
the line for malformed YAML.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.spec import StudySpec, parse_study


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
