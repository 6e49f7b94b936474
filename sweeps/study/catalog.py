"""Finding a study by what the user typed: a bundled name, a YAML path, or a study already run.

Torch-free: `sweep list` and `sweep space` go through here.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence

from torchsweep.sweeps.errors import UnknownStudy
from torchsweep.sweeps.study.messages import STUDY_NAME_CUTOFF, did_you_mean
from torchsweep.sweeps.study.spec import StudySpec, parse_study
from torchsweep.sweeps.study.studyfile import load_study_file

STUDY_FILE = "study.yaml"   # the resolved study, saved under <root>/<study>/ when it is created


def bundled_names() -> list[str]:
    folder = resources.files("torchsweep.sweeps") / "studies"
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def bundled_path(name: str) -> Path:
    return Path(str(resources.files("torchsweep.sweeps") / "studies" / f"{name}.yaml"))


def resolve(study: str, root: Path, params: Sequence[str] = (), sets: Sequence[str] = (),
            prune_within: str | None = None, function: str | None = None) -> StudySpec:
    """The study a name or path refers to, with --param/--set (and --prune-within, --function)
    applied.

    Order: an existing YAML file; a bundled study; a study this root already ran (its saved
    study.yaml); else a new study defined entirely by --param.
    """
    path = Path(study)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise UnknownStudy(f"study file {path} does not exist")
        spec = load_study_file(path, function)
    elif study in bundled_names():
        spec = load_study_file(bundled_path(study), function)
    elif (Path(root) / study / STUDY_FILE).is_file():
        spec = load_study_file(Path(root) / study / STUDY_FILE, function)
    elif params:
        spec = parse_study({"method": "bayes", "parameters": {}}, name=study,
                           source="command line", function=function)
    else:
        ran = [path.parent.name for path in Path(root).glob(f"*/{STUDY_FILE}")]
        raise UnknownStudy(
            f"unknown study '{study}': not a bundled study ({', '.join(bundled_names())}), "
            f"not a YAML file, and not run under {root}; define it with --param NAME=SPEC"
            f"{did_you_mean(study, [*bundled_names(), *ran], STUDY_NAME_CUTOFF)}")
    changed = params or sets or prune_within
    return spec.with_options(params, sets, prune_within) if changed else spec
