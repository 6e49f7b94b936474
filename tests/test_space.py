"""Search spaces: W&B distributions drawn with real Optuna studies, conditionals, --param."""
import math
import statistics

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torchsweep.sweeps.errors import InfeasibleDraw, SpaceError
from torchsweep.sweeps.study import DISTRIBUTIONS as W_AND_B_DISTRIBUTIONS
from torchsweep.sweeps.study import (
    SearchSpace,
    parse_param_option,
    parse_parameter,
    parse_set_option,
    parse_space,
    parse_study,
)
from torchsweep.sweeps.study.distributions import LATENT
from torchsweep.sweeps.study.rules import PROGRAM
from torchsweep.trainer.config import FIELDS, check_setting

optuna.logging.set_verbosity(optuna.logging.WARNING)


def draw(space: SearchSpace, n: int = 50, seed: int = 0) -> list[dict]:
    """Sample `space` n times through a real in-memory study with a seeded random sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    samples = []
    for _ in range(n):
        trial = study.ask()
        samples.append(space.sample(trial))
        study.tell(trial, 0.0)
    return samples


def space(**blocks) -> SearchSpace:
    return parse_space(blocks)


def is_multiple(value: float, q: float) -> bool:
    return math.isclose(value / q, round(value / q), abs_tol=1e-9)


# name, block, (low, high) the values must lie in, step they must be multiples of
DISTRIBUTIONS = [
    ("epochs", {"value": 3}, (3, 3), None),
    ("batch_size", {"values": [16, 32, 64]}, (16, 64), None),
    ("width", {"min": 8, "max": 64}, (8, 64), 1),
    ("label_smoothing", {"min": 0.0, "max": 0.3}, (0.0, 0.3), None),
    ("weight_decay", {"distribution": "q_uniform", "min": 0.0, "max": 0.01, "q": 0.001},
     (0.0, 0.01), 0.001),
    ("batch_size", {"distribution": "q_uniform", "min": 16, "max": 256, "q": 16}, (16, 256), 16),
    ("lr", {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
     (math.exp(-9.2), math.exp(-2.3)), None),
    ("lr", {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}, (1e-4, 1e-1), None),
    ("batch_size", {"distribution": "q_log_uniform", "min": math.log(16), "max": math.log(256),
                    "q": 1}, (16, 256), 1),
    ("batch_size", {"distribution": "q_log_uniform_values", "min": 16, "max": 256, "q": 8},
     (16, 256), 8),
    ("lr", {"distribution": "inv_log_uniform", "min": 2.3, "max": 9.2},
     (math.exp(-9.2), math.exp(-2.3)), None),
    ("lr", {"distribution": "inv_log_uniform_values", "min": 1e-4, "max": 1e-1}, (1e-4, 1e-1),
     None),
    ("grad_clip", {"distribution": "normal", "mu": 5, "sigma": 1}, (0.2, 9.8), None),
    ("epochs", {"distribution": "q_normal", "mu": 20, "sigma": 2, "q": 1}, (10, 30), 1),
    ("lr", {"distribution": "log_normal", "mu": -5, "sigma": 1},
     (math.exp(-9.8), math.exp(-0.2)), None),
    ("width", {"distribution": "q_log_normal", "mu": 3, "sigma": 0.5, "q": 2},
     (2, 220), 2),
    ("optimizer", {"values": ["sgd", "adam"], "probabilities": [0.5, 0.5]}, None, None),
]


@pytest.mark.parametrize("name, block, bounds, step", DISTRIBUTIONS,
                         ids=[b.get("distribution", str(b)) for _, b, _, _ in DISTRIBUTIONS])
def test_every_distribution_draws_valid_values_within_its_range(name, block, bounds, step):
    parameter = parse_parameter(name, block, where=f"parameters.{name}")
    values = [s[name] for s in draw(SearchSpace({name: parameter}))]
    for value in values:
        assert check_setting(name, value) == value
        if bounds:
            assert bounds[0] - 1e-9 <= value <= bounds[1] + 1e-9
        if step:
            assert is_multiple(value, step)
    if bounds:
        assert len(set(values)) > 1 or bounds[0] == bounds[1]


def test_distributions_that_w_and_b_defines_by_formula_have_the_right_centre():
    normal = [s["grad_clip"] for s in draw(space(grad_clip={"distribution": "normal",
                                                             "mu": 5, "sigma": 1}), n=200)]
    assert statistics.mean(normal) == pytest.approx(5, abs=0.3)
    assert statistics.stdev(normal) == pytest.approx(1, abs=0.25)
    log_normal = [s["lr"] for s in draw(space(lr={"distribution": "log_normal",
                                                   "mu": -5, "sigma": 1}), n=200)]
    assert statistics.mean(map(math.log, log_normal)) == pytest.approx(-5, abs=0.3)
    # W&B: inv_log_uniform_values has log(1/X) uniform between log(1/max) and log(1/min)
    inverse = [s["lr"] for s in draw(space(lr={"distribution": "inv_log_uniform_values",
                                               "min": 1e-4, "max": 1e-1}), n=200)]
    assert statistics.mean(math.log10(x) for x in inverse) == pytest.approx(-2.5, abs=0.25)


def test_categorical_with_probabilities_matches_its_frequencies():
    samples = draw(space(optimizer={"values": ["sgd", "adam", "rmsprop"],
                                    "probabilities": [0.7, 0.2, 0.1]}), n=600)
    share = {v: sum(s["optimizer"] == v for s in samples) / len(samples)
             for v in ("sgd", "adam", "rmsprop")}
    assert share == pytest.approx({"sgd": 0.7, "adam": 0.2, "rmsprop": 0.1}, abs=0.06)


def test_transformed_distributions_draw_a_latent_float_and_native_ones_draw_the_value():
    study = optuna.create_study()
    trial = study.ask()
    space(lr={"distribution": "log_uniform", "min": -9, "max": -2},
          batch_size={"distribution": "q_uniform", "min": 16, "max": 256, "q": 16}).sample(trial)
    assert set(trial.params) == {"lr", "batch_size" + LATENT}
    assert trial.distributions["lr"].log and trial.distributions["lr"].low == math.exp(-9)


def test_q_with_an_integer_step_gives_integers_like_w_and_b():
    ints = draw(space(batch_size={"distribution": "q_uniform", "min": 16, "max": 256, "q": 16}))
    assert all(type(s["batch_size"]) is int for s in ints)
    floats = draw(space(weight_decay={"distribution": "q_uniform", "min": 0, "max": 0.01,
                                      "q": 0.001}))
    assert all(isinstance(s["weight_decay"], float) for s in floats)


def test_a_conditional_parameter_is_drawn_only_when_its_condition_holds():
    samples = draw(space(optimizer={"values": ["sgd", "adam"]},
                         momentum={"min": 0.5, "max": 0.99, "when": {"optimizer": ["sgd"]}},
                         nesterov={"value": False}))
    assert {s["optimizer"] for s in samples} == {"sgd", "adam"}
    for s in samples:
        assert ("momentum" in s) == (s["optimizer"] == "sgd")
        assert s["nesterov"] is False


def test_parents_are_drawn_before_children_whatever_the_written_order():
    samples = draw(space(beta1={"min": 0.8, "max": 0.95, "when": {"optimizer": "adam"}},
                         optimizer={"values": ["sgd", "adam"]}))
    assert all(("beta1" in s) == (s["optimizer"] == "adam") for s in samples)
    assert list(samples[0]) in (["optimizer"], ["beta1", "optimizer"])  # written order kept


@pytest.mark.parametrize("blocks, where, hint", [
    ({"momentum": {"min": 0.1, "max": 0.9, "when": {"optimizer": ["sgd"]}}},
     "parameters.momentum.when.optimizer", "not another parameter"),
    ({"optimizer": {"values": ["sgd", "adam"]},
      "momentum": {"min": 0.1, "max": 0.9, "when": {"optimizer": ["rmsprop"]}}},
     "parameters.momentum.when.optimizer", "never takes"),
    ({"optimizer": {"values": ["sgd"]},
      "momentum": {"min": 0.1, "max": 0.9, "when": {"optimizer": ["sgdd"]}}},
     "parameters.momentum.when.optimizer[0]", "did you mean 'sgd'"),
    ({"lr": {"min": 0.1, "max": 0.9},
      "momentum": {"min": 0.1, "max": 0.9, "when": {"lr": [0.5]}}},
     "parameters.momentum.when.lr", "when can only test"),
    ({"beta1": {"values": [0.9], "when": {"beta2": [0.99]}},
      "beta2": {"values": [0.99], "when": {"beta1": [0.9]}}},
     "parameters.beta1.when", "cycle"),
    ({"momentum": {"min": 0.1, "max": 0.9, "when": {"optimzer": ["sgd"]}}},
     "parameters.momentum.when.optimzer", "did you mean 'optimizer'"),
])
def test_bad_conditions_are_named(blocks, where, hint):
    with pytest.raises(SpaceError) as caught:
        parse_space(blocks)
    assert f"{where}:" in str(caught.value) and hint in str(caught.value)


@pytest.mark.parametrize("text, distribution, fields", [
    ("batch_size=16,32,64,128", "categorical", {"values": (16, 32, 64, 128)}),
    ("optimizer=sgd,adam", "categorical", {"values": ("sgd", "adam")}),
    ("nesterov=true,false", "categorical", {"values": (True, False)}),
    ("lr=log:1e-4..1e-1", "log_uniform_values", {"min": 1e-4, "max": 0.1}),
    ("batch_size=log:16..256", "q_log_uniform_values", {"min": 16, "max": 256, "q": 1}),
    ("lr=log:1e-4..1e-1:1e-4", "q_log_uniform_values", {"min": 1e-4, "max": 0.1, "q": 1e-4}),
    ("label_smoothing=0..0.3", "uniform", {"min": 0, "max": 0.3}),
    ("width=8..64", "int_uniform", {"min": 8, "max": 64}),
    ("weight_decay=0..1", "uniform", {"min": 0, "max": 1}),  # a float setting: not {0, 1}
    ("batch_size=16..256:16", "q_uniform", {"min": 16, "max": 256, "q": 16}),
    ("epochs=3", "constant", {"value": 3}),
    ("lr=1e-3", "constant", {"value": 1e-3}),
    ("dataset=imagefolder:../data", "constant", {"value": "imagefolder:../data"}),
])
def test_param_option_grammar(text, distribution, fields):
    parameter = parse_param_option(text)
    assert parameter.distribution == distribution
    assert {key: getattr(parameter, key) for key in fields} == fields


@pytest.mark.parametrize("text, hint", [
    ("lr", "expected NAME=SPEC"),
    ("=0.1", "expected NAME=SPEC"),
    ("lr=", "expected NAME=SPEC"),
    ("lr=1..", "expected NAME=SPEC"),
    ("lr=log:a..b", "expected NAME=SPEC"),
    ("batch_size=16,,32", "expected NAME=SPEC"),
    ("lrr=0.1", "did you mean 'lr'"),
    ("lr=0.5..0.1", "min must be less than max"),
    ("lr=log:0..1", "must be > 0"),
    ("lr=0..1:0", "q must be > 0"),
    ("optimizer=sgd,adamm", "did you mean 'adam'"),
    ("batch_size=1.5..8", "whole numbers"),
    ("epochs=1..10:2", "reaches 0"),  # round(1 / 2) * 2 is 0 epochs
    ("momentum=0.5..1", "< 1"),
])
def test_bad_param_options_explain_themselves(text, hint):
    with pytest.raises(SpaceError) as caught:
        parse_param_option(text)
    assert hint in str(caught.value)


def test_set_option_validates_through_the_config():
    assert parse_set_option("epochs=5") == ("epochs", 5)
    assert parse_set_option(" nesterov = true ") == ("nesterov", True)
    for text, hint in [("epochs=-1", ">= 1"), ("epoch=3", "did you mean 'epochs'"),
                       ("epochs", "NAME=VALUE")]:
        with pytest.raises(SpaceError, match="--set") as caught:
            parse_set_option(text)
        assert hint in str(caught.value)


@pytest.mark.parametrize("block, where, hint", [
    ({"values": ["sgd", "adamm"]}, "parameters.optimizer.values[1]", "did you mean 'adam'"),
    ({"values": []}, "parameters.optimizer.values", "non-empty list"),
    ({"value": "sgdd"}, "parameters.optimizer.value", "did you mean 'sgd'"),
    ({"values": ["sgd"], "probabilities": [0.5]}, "parameters.optimizer.probabilities",
     "sum to 1"),
    ({"min": 0, "max": 1, "distribution": "uniformm"}, "parameters.optimizer.distribution",
     "did you mean 'uniform'"),
])
def test_bad_blocks_name_the_key(block, where, hint):
    with pytest.raises(SpaceError) as caught:
        parse_parameter("optimizer", block, where="parameters.optimizer")
    assert str(caught.value).startswith(f"{where}:") and hint in str(caught.value)


def test_a_normal_whose_tail_reaches_an_invalid_setting_runs_and_fails_only_that_draw():
    """W&B runs such a file; so do we: only a draw in the refused tail is infeasible."""
    decay = parse_parameter("weight_decay", {"distribution": "normal", "mu": 1e-4, "sigma": 1e-4},
                            where="parameters.weight_decay")           # about 16% below 0
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    kept, refused = [], 0
    for _ in range(200):
        trial = study.ask()
        try:
            kept.append(decay.suggest(trial))
        except InfeasibleDraw as error:
            assert str(error).startswith("parameters.weight_decay: expected a number >= 0")
            refused += 1
    assert all(value >= 0 for value in kept)
    assert 10 < refused < 60                                        # the tail, not every draw


def test_a_bounded_range_that_reaches_an_invalid_setting_is_refused_up_front():
    with pytest.raises(SpaceError, match=r"parameters\.weight_decay.min: the uniform range "
                                         r"reaches -0\.1; expected a number >= 0"):
        parse_parameter("weight_decay", {"min": -0.1, "max": 0.1},
                        where="parameters.weight_decay")


def test_grid_walks_values_int_ranges_and_constants_only():
    finite = space(batch_size={"values": [16, 32]}, width={"min": 8, "max": 10},
                   epochs={"value": 3}, optimizer={"values": ["sgd", "adam"]})
    assert finite.grid() == {"batch_size": [16, 32], "width": [8, 9, 10],
                             "optimizer": ["sgd", "adam"]}
    assert finite.grid_size() == 12
    for block in ({"min": 0.0, "max": 0.3},
                  {"values": [0.0, 0.1], "probabilities": [0.5, 0.5]}):
        with pytest.raises(SpaceError, match=r"label_smoothing: grid search needs `values`"):
            space(label_smoothing=block).grid()


def test_a_grid_sampler_walks_the_grid():
    grid_space = space(batch_size={"values": [16, 32]}, optimizer={"values": ["sgd", "adam"]},
                       epochs={"value": 2})
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid_space.grid(), seed=0))
    seen = []

    def objective(trial) -> float:
        seen.append(grid_space.sample(trial))
        return 0.0

    study.optimize(objective, n_trials=grid_space.grid_size())
    assert sorted((s["batch_size"], s["optimizer"]) for s in seen) == [
        (16, "adam"), (16, "sgd"), (32, "adam"), (32, "sgd")]


def test_choices_optuna_cannot_store_travel_as_json():
    # A program's setting may take lists and mappings; Optuna stores scalars only.
    choices = ([1, 2], {"a": 1}, "x")
    picked = [s["layers"] for s in draw(parse_space(
        {"layers": {"values": list(choices)}}, rules=PROGRAM), n=30)]
    assert all(any(v == c for c in choices) for v in picked)
    assert [1, 2] in picked and {"a": 1} in picked


def test_describe_reads_like_a_table():
    described = {name: p.describe() for name, p in space(
        lr={"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        batch_size={"values": [16, 32, 64]},
        epochs={"value": 3},
        width={"min": 8, "max": 64},
        optimizer={"values": ["sgd", "adam"], "probabilities": [0.75, 0.25]},
        momentum={"distribution": "q_uniform", "min": 0.5, "max": 0.9, "q": 0.1,
                  "when": {"optimizer": ["sgd"]}},
    ).parameters.items()}
    assert described == {
        "lr": "log-uniform 1e-4..0.1", "batch_size": "{16, 32, 64}", "epochs": "fixed 3",
        "width": "integer 8..64", "optimizer": "{sgd 75%, adam 25%}",
        "momentum": "uniform 0.5..0.9 step 0.1"}


@pytest.mark.parametrize("name, block, bounds, step", DISTRIBUTIONS)
def test_every_block_round_trips_through_to_dict(name, block, bounds, step):
    parameter = parse_parameter(name, block, where="p")
    assert parse_parameter(name, parameter.to_dict(), where="p") == parameter


def test_constants_are_the_settings_every_trial_gets():
    assert space(epochs={"value": 3}, optimizer={"values": ["sgd", "adam"]},
                 momentum={"value": 0.8, "when": {"optimizer": "sgd"}}).constants() == {"epochs": 3}


def test_fingerprint_is_stable_and_changes_with_the_range():
    a = space(lr={"min": 0.01, "max": 0.1}, epochs={"value": 3})
    assert a.fingerprint() == space(epochs={"value": 3}, lr={"max": 0.1, "min": 0.01}).fingerprint()
    assert a.fingerprint() != space(lr={"min": 0.01, "max": 0.2}, epochs={"value": 3}).fingerprint()


# --- properties: any input either parses or raises SpaceError ---

WORDS = ["method", "metric", "parameters", "name", "goal", "target", "values", "value", "min",
         "max", "distribution", "q", "mu", "sigma", "probabilities", "when", "early_terminate",
         "type", "min_iter", "max_iter", "s", "eta", "run_cap", "sampler", "pruner", "lr",
         "optimizer", "batch_size", "epochs", "momentum", "bayes", "grid", "random", "sgd",
         "adam", "uniform", "int_uniform", "q_uniform", "log_uniform", "normal", "q_log_normal",
         "categorical_w_probabilities", "inv_log_uniform_values", "hyperband", "val_acc",
         "maximize", "program", "keep_top_k", "trials"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.sampled_from(WORDS) | st.text(max_size=8))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(WORDS) | scalars, inner, max_size=5),
    max_leaves=25)
option_texts = st.text() | st.builds(
    lambda name, spec: f"{name}={spec}", st.sampled_from(sorted(FIELDS)),
    st.text(alphabet="0123456789.,:-+elog truefalsgd", max_size=16))


@settings(max_examples=300, deadline=None)
@given(option_texts)
def test_any_param_option_parses_or_raises_space_error(text):
    try:
        parameter = parse_param_option(text)
    except SpaceError as error:
        assert "\n" not in str(error)
    else:
        assert parameter.name in FIELDS


@settings(max_examples=300, deadline=None)
@given(documents | st.dictionaries(st.sampled_from(WORDS), documents, max_size=6))
def test_any_document_parses_or_raises_space_error(doc):
    try:
        parse_study(doc, name="fuzz", source="fuzz.yaml")
    except SpaceError as error:
        assert str(error).startswith("fuzz.yaml: ") and "\n" not in str(error)


numbers = st.integers(-2, 64) | st.floats(-2, 64)
words = st.sampled_from(["sgd", "adam", "true", "cosine"])
gaussians = ["normal", "q_normal", "log_normal", "q_log_normal"]


def ranged(distribution: str, low: float, width: float, q: float) -> dict:
    block = {"distribution": distribution, "min": low, "max": low + width}
    return {**block, "q": q} if distribution.startswith("q_") else block


blocks = (
    st.builds(ranged, st.sampled_from([d for d in W_AND_B_DISTRIBUTIONS if d not in gaussians
                                       and "categorical" not in d and d != "constant"]),
              numbers, numbers, numbers)
    | st.fixed_dictionaries({"distribution": st.sampled_from(gaussians)},
                            optional={"mu": numbers, "sigma": numbers, "q": numbers})
    | st.fixed_dictionaries(
        {"values": st.lists(numbers | words, min_size=1, max_size=3)},
        optional={"probabilities": st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=1,
                                            max_size=3),
                  "when": st.just({"optimizer": ["sgd"]})})
    | st.fixed_dictionaries({"value": numbers | words}))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["lr", "momentum", "weight_decay", "batch_size", "epochs",
                                         "width", "optimizer"]), blocks, min_size=1, max_size=2))
def test_any_parameters_block_parses_or_raises_and_what_parses_samples_valid_settings(blocks):
    try:
        parsed = parse_space(blocks)
    except SpaceError:
        return
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        try:
            sample = parsed.sample(trial)
        except InfeasibleDraw as error:
            # Only an unbounded (normal-family) tail may draw what the trainer refuses.
            name = str(error).split(":")[0].removeprefix("parameters.")
            assert "normal" in parsed.parameters[name].distribution, error
            continue
        finally:
            study.tell(trial, 0.0)
        for name, value in sample.items():
            assert check_setting(name, value) == value
