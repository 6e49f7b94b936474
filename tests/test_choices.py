"""The vocabularies are registries: each pruner, sampler and W&B distribution is named once
(study/choices.py, study/distributions.py), and the engine's factories, the CLI's choices and
the manual (docs/studies.md) all follow those tables; a name none of them knows is an error, never a default."""
import importlib
import re
from fnmatch import fnmatch
from pathlib import Path

import optuna
import pytest
from cli_helpers import one_line_error, sweep, sweep_json

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import pruners, samplers
from torchsweep.sweeps.engine.pruners import PruneWithin, build_pruner
from torchsweep.sweeps.engine.samplers import build_sampler
from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.storage import open_storage, storage_url
from torchsweep.sweeps.study import parse_study
from torchsweep.sweeps.study.choices import DEFAULT_PRUNER, PRUNERS, SAMPLERS
from torchsweep.sweeps.study.distributions import FORMS
from torchsweep.sweeps.study.parameter import parse_parameter
from torchsweep.sweeps.study.rules import PROGRAM

STUDIES_PAGE = (Path(__file__).resolve().parent.parent / "docs" / "studies.md").read_text()
SPACE = {"lr": {"values": [0.01, 0.1]}, "batch_size": {"values": [32, 64]}}


def study(**keys):
    return parse_study({"method": "random", "parameters": SPACE, **keys}, name="s", source="s")


@pytest.mark.parametrize("folder, table", [(pruners, PRUNERS), (samplers, SAMPLERS)])
def test_every_name_has_a_module_and_every_module_that_builds_has_a_name(folder, table):
    """A pruner or sampler is one module of its name (with `build`) and one line in its table:
    a module the table forgets, or a name with no module, fails here, never at run time."""
    modules = (importlib.import_module(f"{folder.__name__}.{path.stem}")
               for path in Path(folder.__file__).parent.glob("*.py"))
    builders = {module.__name__.rsplit(".", 1)[1] for module in modules
                if callable(getattr(module, "build", None))}
    assert builders == set(table)


@pytest.mark.parametrize("name", PRUNERS)
def test_each_pruner_builds_an_optuna_pruner_that_prunes_within_a_parameter(name):
    built = build_pruner(name, study(), 1000)
    assert isinstance(built, optuna.pruners.BasePruner) and not isinstance(built, PruneWithin)
    within = build_pruner(name, study(prune_within="batch_size"), 1000)
    # A pruner that never prunes has nothing to run apart.
    assert isinstance(within, PruneWithin) == (PRUNERS[name].unit is not None)


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_builds_an_optuna_sampler(name):
    assert isinstance(build_sampler(name, study().space, 0), optuna.samplers.BaseSampler)


def test_an_unknown_name_is_an_error_never_a_default():
    with pytest.raises(SpaceError, match="^pruner 'asha': not a pruner of this version of "
                                         "sweep; use median, hyperband, successive_halving, "):
        build_pruner("asha", study(), 1000)
    with pytest.raises(SpaceError, match="^sampler 'annealing': not a sampler of this "):
        build_sampler("annealing", study().space, 0)


@pytest.mark.parametrize("setting, name", [("pruner", "asha"), ("sampler", "annealing")])
def test_a_worker_refuses_a_name_another_version_recorded(tmp_path, setting, name):
    """Workers read the study's sampler and pruner from the storage, which a newer sweep may
    have written: one line, exit 2, and no trial claimed."""
    space = ("--param", "lr=log:0.01..0.2", "--set", "epochs=1", "--set", "model=mlp",
             "--root", tmp_path)
    assert sweep_json("create", "newer", *space, "--trials", "1")["queued"] == 1
    stored = optuna.load_study(study_name="newer",
                               storage=open_storage(storage_url(tmp_path, None), create=False))
    stored.set_user_attr(attrs.SETTINGS, {**attrs.shared_settings(stored), setting: name})
    one_line_error(sweep("worker", "newer", "--root", tmp_path, "--wandb", "disabled"), 2,
                   f"error: {setting} '{name}': not a {setting} of this version of sweep; use ")
    assert [t.state for t in stored.get_trials()] == [optuna.trial.TrialState.WAITING]


def test_the_study_file_and_the_command_line_offer_the_registrys_names():
    names = {"pruner": PRUNERS, "sampler": SAMPLERS}
    for key, table in names.items():
        with pytest.raises(SpaceError, match=f"^s: {key}: expected {', '.join(list(table)[:-1])} "
                                            f"or {list(table)[-1]}, got"):
            study(**{key: "nonsense"})
        refused = sweep("run", "x", f"--{key}", "nonsense")
        assert refused.exit_code == 2
        assert f"is not one of {', '.join(map(repr, table))}" in refused.stderr


def test_the_manual_lists_the_registrys_names_and_default():
    said = " ".join(STUDIES_PAGE.split())
    samplers = re.search(r"`sampler: ([\w |]+)` overrides `method`", said)
    pruners = re.search(r"`pruner: ([\w |]+)` \(default `(\w+)`", said)
    assert samplers and samplers[1].split(" | ") == list(SAMPLERS)
    assert pruners and pruners[1].split(" | ") == list(PRUNERS)
    assert pruners[2] == DEFAULT_PRUNER


def test_the_manual_maps_every_wandb_distribution():
    table = STUDIES_PAGE.split("## How W&B's schema maps onto Optuna")[1].split("\n\n")[1]
    # `value` and `values` are W&B's constant and categorical, inferred from the key.
    named = {"value": "constant", "values": "categorical"}
    shown = [named.get(word, word) for word in re.findall(r"`([\w*]+)`", table)]
    missing = [name for name in FORMS if not any(fnmatch(name, word) for word in shown)]
    assert not missing, f"docs/studies.md's W&B table lacks {missing}"


# The least block each key takes, for a distribution that requires it.
LEAST = {"value": 1, "values": [1, 2], "probabilities": [0.5, 0.5], "min": 1, "max": 2}


@pytest.mark.parametrize("name", FORMS)
def test_each_wandb_distribution_is_drawn_and_shown_by_its_table_entry(name):
    block = {"distribution": name, **{key: LEAST[key] for key in FORMS[name].required}}
    parameter = parse_parameter("x", block, where="parameters.x", rules=PROGRAM)
    value = parameter.suggest(optuna.create_study().ask())
    assert parameter.can_take(value) if FORMS[name].discrete else isinstance(value, (int, float))
    assert parameter.describe() and "None" not in parameter.describe()
    if name.endswith("beta"):   # its own shape, not the quantile it is drawn from
        assert parameter.describe().startswith("beta a=1 b=1")
