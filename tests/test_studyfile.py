"""Study files: W&B sweep YAML read into a StudySpec, written back, and overridden."""
import dataclasses
import pickle
import textwrap
from pathlib import Path

import pytest

import torchsweep.sweeps
from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.catalog import bundled_names, bundled_path
from torchsweep.sweeps.study.spec import Objective, StudySpec, parse_study
from torchsweep.sweeps.study.studyfile import load_study_file
from torchsweep.trainer.goal import Goal

WANDB_SWEEP = """\
program: train.py
name: cnn-search
description: the sweep a W&B user already has
method: bayes
metric:
  name: val_loss
  goal: minimize
  target: 0.05
entity: my-team
project: cnn
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - ${args}
early_terminate:
  type: hyperband
  max_iter: 27
  s: 2
run_cap: 40
parameters:
  lr:
    distribution: log_uniform_values
    min: 1e-4
    max: 0.1
  batch_size:
    distribution: q_log_uniform
    min: 2.77
    max: 5.55
    q: 1
  optimizer:
    values: [sgd, adam]
  momentum:
    min: 0.5
    max: 0.99
    when: {optimizer: [sgd]}
  scheduler:
    values: [cosine, step]
    probabilities: [0.75, 0.25]
  width:
    min: 16
    max: 64
  label_smoothing:
    distribution: normal
    mu: 0.1
    sigma: 0.02
  epochs:
    value: 3
"""


def write(tmp_path, text, name="study.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def minimal(**changes) -> dict:
    doc = {"method": "random", "parameters": {"lr": {"min": 0.01, "max": 0.1}}}
    return {**doc, **changes}


def test_a_wandb_sweep_file_parses(tmp_path):
    spec = load_study_file(write(tmp_path, WANDB_SWEEP))
    assert (spec.name, spec.method, spec.metric, spec.goal, spec.target, spec.run_cap) == (
        "cnn-search", "bayes", "val_loss", Goal.MINIMIZE, 0.05, 40)
    # A program study: W&B's agent keys are honoured, the parameters are the program's own.
    assert spec.runs_program and spec.program == "train.py" and not spec.ignored
    assert spec.command == ("${env}", "${interpreter}", "${program}", "${args}")
    assert (spec.project, spec.entity) == ("cnn", "my-team")
    # W&B's bands for max_iter 27, eta 3, s 2 are 9 and 3: hyperband starts at 3
    assert spec.early_terminate == {"type": "hyperband", "min_iter": 3, "eta": 3,
                                    "max_iter": 27, "s": 2}
    assert (spec.sampler_name(), spec.pruner_name()) == ("tpe", "hyperband")
    assert {n: p.distribution for n, p in spec.space.parameters.items()} == {
        "lr": "log_uniform_values", "batch_size": "q_log_uniform", "optimizer": "categorical",
        "momentum": "uniform", "scheduler": "categorical_w_probabilities",
        "width": "int_uniform", "label_smoothing": "normal", "epochs": "constant"}
    assert spec.space.parameters["momentum"].when == (("optimizer", ("sgd",)),)


def test_to_dict_round_trips_and_gives_the_users_keys_back(tmp_path):
    spec = load_study_file(write(tmp_path, WANDB_SWEEP))
    doc = spec.to_dict()
    assert parse_study(doc, name=spec.name, source=spec.source) == spec
    assert doc["program"] == "train.py" and doc["command"][0] == "${env}"
    extended = dataclasses.replace(spec, sampler="cmaes", pruner="none", keep_top_k=2, trials=9)
    assert parse_study(extended.to_dict(), name="x", source=spec.source) == extended


@pytest.mark.parametrize("bundled", [False, True])
def test_a_spec_pickled_to_a_worker_keeps_whose_settings_it_searches(tmp_path, bundled):
    """A worker process gets the launch's spec pickled: a program's stays a program's (the
    rules are compared by identity), a trainer study's the trainer's."""
    spec = load_study_file(bundled_path("full_study") if bundled else write(tmp_path,
                                                                             WANDB_SWEEP))
    sent = pickle.loads(pickle.dumps(spec))
    assert sent == spec and sent.own_code is spec.own_code is (not bundled)
    assert all(p.rules is spec.space.rules for p in sent.space.parameters.values())


def test_name_defaults_to_the_file_stem_and_metric_goal_to_the_metrics_direction(tmp_path):
    spec = load_study_file(write(tmp_path, """\
        method: random
        metric: {name: train_loss}
        parameters: {lr: {min: 0.01, max: 0.1}}
        """, name="quick.yaml"))
    assert (spec.name, spec.goal) == ("quick", Goal.MINIMIZE)
    assert parse_study(minimal(), name="m", source="m").metric == "val_acc"


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    spec = load_study_file(write(tmp_path, """\
        method: random
        parameters: {lr: {distribution: log_uniform_values, min: 1e-5, max: 1.0e-1}}
        """))
    assert (spec.space.parameters["lr"].min, spec.space.parameters["lr"].max) == (1e-5, 0.1)


@pytest.mark.parametrize("yaml_text, expected", [
    ("method: random\nparameters:\n  lr: {min: 0.1, max: 0.2\n", ["line 4", "malformed YAML"]),
    ("[method, random]\n", ["top level: expected a mapping"]),
])
def test_broken_files_name_the_file_and_line(tmp_path, yaml_text, expected):
    path = write(tmp_path, yaml_text)
    with pytest.raises(SpaceError) as caught:
        load_study_file(path)
    assert str(caught.value).startswith(f"{path}:")
    assert all(part in str(caught.value) for part in expected)


def test_a_missing_file_is_a_space_error(tmp_path):
    with pytest.raises(SpaceError, match="cannot read"):
        load_study_file(tmp_path / "absent.yaml")


def block(name: str, **spec) -> dict:
    return minimal(parameters={name: spec})


def hyperband(**spec) -> dict:
    return minimal(early_terminate={"type": "hyperband", **spec})


@pytest.mark.parametrize("doc, expected", [
    (minimal(metod="bayes"), "metod: unknown key; did you mean 'method'?"),
    ({"parameters": {"lr": {"value": 0.1}}}, "method: missing"),
    (minimal(method="baye"),
     "method: expected bayes, random, grid or custom, got \"baye\"; did you mean 'bayes'?"),
    (minimal(parameters=["lr"]), "parameters: expected a mapping"),
    (block("lrr", value=0.1), "parameters.lrr: unknown setting 'lrr'; did you mean 'lr'?"),
    (block("lr", min=0.1, mx=0.2), "parameters.lr.mx: unknown key; did you mean 'max'?"),
    (block("lr", distribution="uniform", min=0.1, max=0.2, mu=0),
     "parameters.lr.mu: unknown key for uniform; known keys: distribution, min, max, when"),
    (block("lr", min=0.2, max=0.1), "parameters.lr.min: 0.2 is not below max 0.1"),
    (block("optimizer", values=[]), "parameters.optimizer.values: expected a non-empty list"),
    (block("optimizer", values=["sgd", "adam"], probabilities=[0.5, 0.6]),
     "parameters.optimizer.probabilities: the probabilities sum to 1.1; they must sum to 1"),
    (block("optimizer", values=["sgd", "adam"], probabilities=[1.5, -0.5]),
     "parameters.optimizer.probabilities[1]: -0.5 is negative"),
    (block("optimizer", values=["sgd"], probabilities=[0.5, 0.5]),
     "parameters.optimizer.probabilities: expected 1 probabilities, one per value"),
    (block("lr", distribution="q_uniform", min=0.1, max=0.2, q=0),
     "parameters.lr.q: 0 is not positive; q must be > 0"),
    (block("lr", distribution="normal", mu=0.1, sigma=-1),
     "parameters.lr.sigma: -1 is not positive"),
    (block("lr", distribution="log_uniform_values", min=0, max=0.1),
     "parameters.lr.min: 0 is not positive; log-scale bounds must be > 0"),
    (block("lr", distribution="uniform", min="0.1", max=0.2),
     "parameters.lr.min: expected a number, got \"0.1\""),
    (block("optimizer", values=["sgd", "adamm"]),
     "parameters.optimizer.values[1]: expected one of sgd, adam"),
    (minimal(metric={"name": "val_accuracy"}), "metric.name: expected train_loss"),
    (minimal(metric={"name": "val_accuracy"}), "did you mean 'val_acc'?"),
    (minimal(metric={"name": "val_acc", "goal": "max"}),
     "metric.goal: expected maximize or minimize, got \"max\""),
    (minimal(sampler="tpee"),
     "sampler: expected tpe, random, grid, cmaes, qmc or gp, got \"tpee\"; did you mean 'tpe'?"),
    (minimal(pruner="hyperbnd"),
     "pruner: expected median, hyperband, successive_halving, wandb_hyperband, wilcoxon or "
     "none"),
    (minimal(run_cap=0), "run_cap: expected an integer >= 1, got 0"),
    (minimal(repeats=True), "repeats: expected an integer >= 1, got True"),
    (hyperband(), "early_terminate: give min_iter, or max_iter and s"),
    (hyperband(max_iter=2, s=1), "early_terminate.max_iter: 2 / eta 3 is below 1"),
    (hyperband(min_iter=1, eta=1), "early_terminate.eta: expected a number above 1"),
    (hyperband(min_iter=0), "early_terminate.min_iter: expected a number of epochs > 0 (0.25 is "
                            "a quarter of the first), got 0"),
    (hyperband(min_iter="2"), 'early_terminate.min_iter: expected a number, got "2"'),
    (minimal(early_terminate={"type": "envelope"}), "early_terminate.type: expected hyperband"),
    (minimal(metrics=[{"name": "val_acc"}]), "metrics: expected a list of two or more metrics"),
    (minimal(metrics=[{"name": "val_acc"}, {"name": "val_acc"}]),
     "metrics: val_acc is listed twice"),
    (minimal(metric={"name": "val_acc"}, metrics=[{"name": "val_acc"}, {"name": "val_loss"}]),
     "metrics: give metric (one objective) or metrics (several), not both"),
    (minimal(metrics=[{"name": "val_acc"}, {"name": "loss"}]), "metrics[1].name: expected"),
    (minimal(scheduler={"engine": "hyperopt"}), "scheduler.engine: expected optuna, wandb or ax"),
    (minimal(program="train.py", metric={"name": "loss"}, parameters={"9lives": {"value": 1}}),
     "parameters.9lives: '9lives' is not a parameter name W&B allows"),
    (minimal(program="train.py", method="bayes"),
     "metric: missing; bayes search learns from a metric"),
    (minimal(program="train.py", method="random", sampler="tpe"),
     "metric: missing; tpe search learns from a metric"),
    (minimal(program="train.py", method="random", pruner="median"),
     "metric: missing; pruner compares trials by a metric"),
    (minimal(command="python train.py"), "command: expected a non-empty list of words"),
    (minimal(method="grid"), "parameters.lr: grid search needs `values`"),
    (minimal(method="random", sampler="grid"), "parameters.lr: grid search needs `values`"),
])
def test_errors_name_the_key_and_what_is_allowed(doc, expected):
    with pytest.raises(SpaceError) as caught:
        parse_study(doc, name="x", source="studies/x.yaml")
    assert str(caught.value).startswith("studies/x.yaml: ")
    assert expected in str(caught.value)


def test_a_programs_grid_or_random_file_may_name_no_metric():
    """As in W&B: nothing ranks its trials, and nothing prunes them (`pruner: none` says so)."""
    for doc in (minimal(program="train.py"), minimal(program="train.py", pruner="none")):
        spec = parse_study(doc, name="x", source="x")
        assert (spec.ranked, spec.metric, spec.pruner_name()) == (False, None, "none")
        assert parse_study(spec.to_dict(), name="x", source="x") == spec


def test_hyperband_bands_follow_wandb():
    def first_band(**spec):
        return parse_study(hyperband(**spec), name="x", source="x").early_terminate["min_iter"]
    assert first_band(min_iter=2) == 2
    assert first_band(max_iter=81, s=3) == 3          # 27, 9, 3
    assert first_band(max_iter=8, s=3) == 2           # 8 / 3 = 2.67 -> 2; 8 / 9 < 1 stops
    assert first_band(max_iter=100, s=2, eta=2) == 25
    assert first_band(max_iter=27, s=2, min_iter=5) == 3  # W&B prefers max_iter + s
    # the trainer's iterations are epochs, and a first cut may fall within one; a program's
    # are its own steps, whole numbers as in W&B
    assert first_band(min_iter=0.25) == 0.25
    program = dict(program="train.py", metric={"name": "loss"})
    with pytest.raises(SpaceError, match="min_iter: expected an integer >= 1, got 0.25"):
        parse_study({**hyperband(min_iter=0.25), **program}, name="x", source="x")


def test_grid_over_values_gives_the_exact_grid_size():
    spec = parse_study(minimal(method="grid", parameters={
        "batch_size": {"values": [16, 32, 64]}, "optimizer": {"values": ["sgd", "adam"]},
        "width": {"min": 8, "max": 11}, "epochs": {"value": 3}}), name="g", source="g")
    assert spec.sampler_name() == "grid"
    assert spec.space.grid_size() == 3 * 2 * 4


def test_with_options_adds_and_replaces_dimensions():
    spec = parse_study(minimal(parameters={
        "lr": {"min": 0.01, "max": 0.1}, "optimizer": {"values": ["sgd", "adam"]},
        "momentum": {"min": 0.5, "max": 0.99, "when": {"optimizer": ["sgd"]}}}),
        name="o", source="o")
    changed = spec.with_options(params=["lr=log:1e-4..1e-1", "batch_size=16,32"],
                                sets=["epochs=2"])
    parameters = changed.space.parameters
    assert list(parameters) == ["lr", "optimizer", "momentum", "batch_size", "epochs"]
    assert parameters["lr"].distribution == "log_uniform_values"
    assert parameters["batch_size"].values == (16, 32)
    assert (parameters["epochs"].distribution, parameters["epochs"].value) == ("constant", 2)
    assert changed.space.fingerprint() != spec.space.fingerprint()
    assert spec.space.parameters["lr"].distribution == "uniform"  # the original is untouched
    # a replaced parameter keeps its condition
    narrowed = spec.with_options(params=["momentum=0.8..0.95"]).space.parameters["momentum"]
    assert (narrowed.min, narrowed.when) == (0.8, (("optimizer", ("sgd",)),))
    # fixing the parent so the condition cannot hold drops the conditional parameter
    assert "momentum" not in spec.with_options(sets=["optimizer=adam"]).space.parameters


def test_a_study_defined_on_the_command_line_starts_empty():
    empty = parse_study({"method": "bayes", "parameters": {}}, name="cli", source="command line")
    spec = empty.with_options(params=["lr=log:1e-3..1e-1"], sets=["epochs=2"])
    assert list(spec.space.parameters) == ["lr", "epochs"]


BUNDLED = ["batchsize_study", "full_study", "label_smoothing_study", "lr_schedule_study",
           "optimizer_study"]


def test_bundled_studies_parse_and_sample():
    """Found through torchsweep's package data: a bare `sweeps` may be W&B's engine."""
    import optuna
    assert bundled_names() == BUNDLED
    for name in bundled_names():
        path = bundled_path(name)
        assert path == Path(torchsweep.sweeps.__file__).parent / "studies" / f"{name}.yaml"
        spec = load_study_file(path)
        assert spec.name == path.stem and not spec.ignored
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(5):
            spec.space.sample(study.ask())


def test_bundled_studies_are_found_outside_the_checkout(tmp_path):
    """In a fresh process outside the checkout, where a bare `sweeps` is W&B's engine (.ci/run
    installs it), not this checkout's folder as it is for the tests' own process."""
    import subprocess
    import sys

    code = ("from torchsweep.sweeps.study.catalog import bundled_names, bundled_path; "
            "names = bundled_names(); print(*names); print(bundled_path(names[0]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    names, path = done.stdout.splitlines()
    assert names.split() == BUNDLED
    assert Path(path) == Path(torchsweep.sweeps.__file__).parent / "studies" / f"{BUNDLED[0]}.yaml"


def test_with_options_keeps_a_grid_study_finite():
    spec = parse_study(minimal(method="grid", parameters={"batch_size": {"values": [16, 32]}}),
                       name="g", source="g")
    assert spec.with_options(params=["width=8..9"]).space.grid_size() == 4
    with pytest.raises(SpaceError, match=r"g: parameters\.lr: grid search needs `values`"):
        spec.with_options(params=["lr=0.01..0.1"])


def test_with_options_rejects_bad_text():
    spec = parse_study(minimal(), name="o", source="o")
    with pytest.raises(SpaceError, match="--param"):
        spec.with_options(params=["lr"])
    with pytest.raises(SpaceError, match="--set epochs"):
        spec.with_options(sets=["epochs=zero"])


def test_a_spec_can_be_built_directly():
    spec = parse_study(minimal(), name="direct", source="command line")
    assert StudySpec(name="direct", source="command line", method="random",
                     objectives=(Objective("val_acc", "maximize"),), space=spec.space) == spec


def test_wandbs_current_schema_custom_method_scheduler_and_metrics():
    """Every key of W&B's current schema is accepted; what maps is honoured, the rest named."""
    spec = parse_study(minimal(method="custom", scheduler={
        "engine": "optuna", "source": "search.py", "search_space": "space"}),
        name="x", source="x")
    assert spec.sampler_name() == "tpe"
    assert spec.ignored == ("scheduler.source", "scheduler.search_space")
    assert parse_study(spec.to_dict(), name="x", source="x") == spec
    assert spec.to_dict()["scheduler"] == {"engine": "optuna", "source": "search.py",
                                           "search_space": "space"}
    both = parse_study(minimal(metrics=[{"name": "val_acc", "goal": "maximize"},
                                        {"name": "epoch_seconds", "impute": "worst"}],
                               early_terminate={"type": "hyperband", "min_iter": 1}),
                       name="x", source="x")
    assert both.multi_objective
    assert [o.goal for o in both.objectives] == [Goal.MAXIMIZE, Goal.MINIMIZE]
    assert both.pruner_name() == "none" and both.ignored == ("metrics[1].impute",)
    assert any("not pruned" in notice for notice in both.notices())
    assert parse_study(both.to_dict(), name="x", source="x") == both
    assert both.to_dict()["metrics"][1]["impute"] == "worst"
