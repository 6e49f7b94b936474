"""What a study is: a W&B sweep configuration, validated. No Optuna, no torch.

The public API is below; the modules behind it hold one concept each: `messages` (how a problem
is worded), `choices` (the words for method, sampler, pruner and goal), `distributions` (W&B's,
drawn with Optuna), `parameter` (one parameter block), `space` (the whole search space),
`feasibility` (settings that cannot work together), `param_grammar` (the `--param`/`--set`
grammar), `rules` (whose settings: the trainer's or a program's), `early_terminate` (W&B's
hyperband block and its bands), `spec` (a whole study),
`studyfile` (reading one from YAML) and `catalog` (finding a study by what the user typed).
Each name is imported when first used, so the CLI pays only for what a command needs.
"""
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # what a type checker and an editor see; at run time, `__getattr__` below
    from torchsweep.sweeps.study.catalog import STUDY_FILE, bundled_names, bundled_path, resolve
    from torchsweep.sweeps.study.choices import GOALS, METHODS, PRUNERS, SAMPLERS
    from torchsweep.sweeps.study.distributions import DISTRIBUTIONS
    from torchsweep.sweeps.study.param_grammar import parse_param_option, parse_set_option
    from torchsweep.sweeps.study.parameter import Parameter, parse_parameter
    from torchsweep.sweeps.study.rules import PROGRAM, TRAINER
    from torchsweep.sweeps.study.space import SearchSpace, parse_space
    from torchsweep.sweeps.study.spec import Objective, StudySpec, parse_study
    from torchsweep.sweeps.study.studyfile import load_study_file

_PUBLIC = {
    "STUDY_FILE": "catalog", "bundled_names": "catalog", "bundled_path": "catalog",
    "resolve": "catalog",
    "DISTRIBUTIONS": "distributions",
    "parse_param_option": "param_grammar", "parse_set_option": "param_grammar",
    "Parameter": "parameter", "parse_parameter": "parameter",
    "SearchSpace": "space", "parse_space": "space",
    "GOALS": "choices", "METHODS": "choices", "PRUNERS": "choices", "SAMPLERS": "choices",
    "Objective": "spec", "StudySpec": "spec", "parse_study": "spec",
    "load_study_file": "studyfile",
    "PROGRAM": "rules", "TRAINER": "rules",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
