"""trainer.config: defaults, parsing, ranges, choices, combinations and the helpers around them."""
import dataclasses
import math

import pytest

from torchsweep.trainer.config import (
    FIELDS,
    TrainConfig,
    allowed,
    check_setting,
    describe,
    unknown_setting_message,
)
from torchsweep.trainer.errors import ConfigError


def test_defaults_are_valid_and_round_trip():
    config = TrainConfig()
    assert config.dataset == "digits" and config.model == "cnn"
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert set(config.to_dict()) == set(FIELDS)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_every_field_is_documented(name):
    doc = FIELDS[name].metadata["doc"]
    assert isinstance(doc, str) and doc.strip()
    line = describe(name)
    assert line.startswith(doc) and allowed(name) in line


def test_unknown_field_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown setting 'batchsize'.*did you mean 'batch_size'"):
        TrainConfig.from_dict({"batchsize": 32})
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        check_setting("lrr", 0.1)
    # nothing close: the message lists the known settings instead
    message = unknown_setting_message("zzzzzzzz")
    assert "did you mean" not in message and "batch_size" in message


@pytest.mark.parametrize("name, value, expected_range", [
    ("batch_size", 0, ">= 1"),
    ("batch_size", -3, ">= 1"),
    ("lr", 0, "> 0"),
    ("lr", -0.1, "> 0"),
    ("val_fraction", 1, "> 0 and < 1"),
    ("val_fraction", 0, "> 0 and < 1"),
    ("label_smoothing", 1, ">= 0 and < 1"),
    ("momentum", 1, ">= 0 and < 1"),
    ("beta2", 1.0, ">= 0 and < 1"),
    ("gamma", 0, "> 0 and <= 1"),
    ("gamma", 1.5, "> 0 and <= 1"),
    ("epochs", 0, ">= 1"),
    ("weight_decay", -1e-4, ">= 0"),
    ("num_workers", -1, ">= 0"),
])
def test_out_of_range_names_field_and_range(name, value, expected_range):
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({name: value})
    message = str(error.value)
    assert message.startswith(f"{name}:")
    assert expected_range in message
    with pytest.raises(ConfigError, match=f"^{name}:"):
        check_setting(name, value)


def test_range_boundaries_that_are_allowed():
    config = TrainConfig(momentum=0.0, label_smoothing=0.0, gamma=1.0, weight_decay=0.0,
                         batch_size=1, val_fraction=0.999, lr=1e-12, grad_clip=0)
    assert config.momentum == 0.0 and config.gamma == 1.0 and config.batch_size == 1


def test_allowed_includes_unit():
    assert allowed("batch_size") == "an integer >= 1 samples"
    assert allowed("val_fraction") == "a number > 0 and < 1"
    assert allowed("optimizer") == "one of sgd, adam, adamw, rmsprop, rprop"
    assert allowed("download") == "true or false"


@pytest.mark.parametrize("name, value, suggestion", [
    ("optimizer", "adamm", "adam"),
    ("scheduler", "cosin", "cosine"),
    ("loader", "tensors", "tensor"),
    ("init", "xavier", "xavier_uniform"),
    ("amp", "bf61", "bf16"),
])
def test_bad_choice_suggests_the_close_one(name, value, suggestion):
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({name: value})
    message = str(error.value)
    assert message.startswith(f"{name}:") and f"did you mean '{suggestion}'" in message
    assert allowed(name) in message


def test_strings_are_parsed():
    config = TrainConfig.from_dict({"batch_size": "32", "nesterov": "true", "lr": "1e-3",
                                    "drop_last": "yes", "download": "0", "momentum": "0.5",
                                    "epochs": "3"})
    assert config.batch_size == 32 and type(config.batch_size) is int
    assert config.nesterov is True and config.drop_last is True and config.download is False
    assert config.lr == 0.001 and type(config.lr) is float
    assert config.momentum == 0.5 and config.epochs == 3
    assert check_setting("batch_size", "32") == 32
    assert check_setting("lr", "1e-3") == 0.001
    assert check_setting("compile", "False") is False


def test_natural_numbers_are_accepted():
    assert TrainConfig(lr=1).lr == 1.0 and type(TrainConfig(lr=1).lr) is float
    assert TrainConfig(batch_size=32.0).batch_size == 32
    assert type(TrainConfig(batch_size=32.0).batch_size) is int


@pytest.mark.parametrize("name, value", [
    ("batch_size", "thirty-two"), ("batch_size", 32.5), ("batch_size", "32.5"),
    ("nesterov", "maybe"), ("nesterov", 1), ("lr", "fast"), ("lr", None),
    ("dataset", 3), ("optimizer", None),
])
def test_unparseable_values_are_rejected(name, value):
    with pytest.raises(ConfigError, match=f"^{name}: expected"):
        TrainConfig.from_dict({name: value})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", "-inf"])
@pytest.mark.parametrize("name", ["lr", "weight_decay", "grad_clip"])
def test_non_finite_numbers_are_rejected(name, value):
    with pytest.raises(ConfigError, match=f"^{name}:"):
        TrainConfig.from_dict({name: value})


@pytest.mark.parametrize("name, value", [
    ("batch_size", True), ("epochs", False), ("lr", True), ("momentum", False),
])
def test_bool_is_not_a_number(name, value):
    with pytest.raises(ConfigError, match=f"^{name}:"):
        TrainConfig.from_dict({name: value})


@pytest.mark.parametrize("settings, field", [
    ({"nesterov": True, "optimizer": "adam"}, "nesterov"),
    ({"nesterov": True, "optimizer": "sgd", "momentum": 0.0}, "nesterov"),
    ({"optimizer": "rprop", "weight_decay": 1e-4}, "weight_decay"),
    ({"optimizer": "rprop", "weight_decay": 0, "scheduler": "onecycle"}, "scheduler"),
    ({"scheduler": "onecycle", "warmup_epochs": 1, "epochs": 3}, "warmup_epochs"),
    ({"warmup_epochs": 3, "epochs": 3}, "warmup_epochs"),
    ({"warmup_epochs": 4, "epochs": 3}, "warmup_epochs"),
])
def test_incompatible_combinations_are_rejected(settings, field):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        TrainConfig.from_dict(settings)


def test_compatible_combinations_are_accepted():
    TrainConfig(nesterov=True, optimizer="sgd", momentum=0.9)
    TrainConfig(optimizer="rprop", weight_decay=0)
    TrainConfig(scheduler="onecycle", optimizer="adam")
    TrainConfig(warmup_epochs=2, epochs=3, scheduler="cosine")


# The settings that take a name or a `package.module:function` form, with forms they accept
# and forms they refuse (naming the setting).
FORMS = {
    "dataset": (["digits", "cifar10", "fake", "imagefolder:/x", "imagefolder:~/pics",
                 "pkg.mod:fn", "mod:make_data"],
                ["digit", "pkg.mod", "pkg.mod:", ":fn", "1pkg:fn", "pkg.mod:fn:x", "pkg mod:fn",
                 ""]),
    "model": (["cnn", "mlp", "resnet18", "pkg.mod:fn", "my_models:tiny"],
              ["resnet", "cnnn", "pkg.mod", "pkg:", "a:b:c", "imagefolder:/x"]),
    "device": (["auto", "cpu", "cuda", "cuda:0", "cuda:12"],
               ["gpu", "cuda:", "cuda:x", "CPU", "mps0"]),
}


@pytest.mark.parametrize("name, value", [(n, v) for n, (good, _) in FORMS.items() for v in good])
def test_named_forms_accepted(name, value):
    assert getattr(TrainConfig(**{name: value}), name) == value


@pytest.mark.parametrize("name, value", [(n, v) for n, (_, bad) in FORMS.items() for v in bad])
def test_named_forms_rejected(name, value):
    with pytest.raises(ConfigError, match=f"^{name}:"):
        TrainConfig(**{name: value})


@pytest.mark.parametrize("name, typo, suggestion", [("dataset", "digts", "digits"),
                                                    ("model", "resnet19", "resnet18")])
def test_named_form_typo_suggests(name, typo, suggestion):
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'"):
        TrainConfig(**{name: typo})


@pytest.mark.parametrize("scaling, batch_size, expected", [
    ("none", 256, 0.1),
    ("linear", 256, 0.4),
    ("linear", 32, 0.05),
    ("sqrt", 256, 0.2),
    ("sqrt", 16, 0.05),
    ("sqrt", 64, 0.1),
])
def test_effective_lr(scaling, batch_size, expected):
    config = TrainConfig(lr=0.1, lr_scaling=scaling, batch_size=batch_size, base_batch_size=64)
    assert config.effective_lr == pytest.approx(expected, rel=1e-12)


def test_replace_returns_new_validated_config():
    base = TrainConfig()
    changed = base.replace(lr="0.5", batch_size=128)
    assert changed.lr == 0.5 and changed.batch_size == 128
    assert base.lr == 0.05 and base.batch_size == 64  # the original is untouched
    assert changed.replace() == changed
    with pytest.raises(ConfigError, match="^batch_size:"):
        base.replace(batch_size=0)
    with pytest.raises(ConfigError, match="did you mean 'momentum'"):
        base.replace(momentun=0.5)
    with pytest.raises(ConfigError, match="^nesterov:"):
        base.replace(nesterov=True, optimizer="adam")
    # validation looks at the combined result, so fixing both sides at once works
    fixed = TrainConfig(optimizer="rprop", weight_decay=0).replace(optimizer="sgd", weight_decay=1e-3)
    assert fixed.optimizer == "sgd"


def test_check_setting():
    assert check_setting("optimizer", "adam") == "adam"
    assert check_setting("epochs", 4.0) == 4
    assert check_setting("drop_last", "no") is False
    with pytest.raises(ConfigError, match=r"^optimizer:.*did you mean 'adamw'"):
        check_setting("optimizer", "adamww")
    with pytest.raises(ConfigError, match=r"^momentum: expected a number >= 0 and < 1"):
        check_setting("momentum", 1.0)
    with pytest.raises(ConfigError, match="unknown setting"):
        check_setting("no_such_setting", 1)


def test_config_module_does_not_import_torch(tmp_path):
    """In a fresh process outside the checkout: the config, which `sweep space` reads, is
    torch-free."""
    import subprocess
    import sys

    import torchsweep.trainer.config as ours
    code = ("import sys, torchsweep.trainer.config as c; "
            "print(c.__file__, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [ours.__file__, "False"]


@pytest.mark.parametrize("name, good, bad, hint", [
    ("dataset", "imagefolder:/x", "digts", "did you mean 'digits'"),
    ("dataset", "pkg.mod:fn", "pkg.mod", ""),
    ("model", "pkg.mod:fn", "resnt18", "did you mean 'resnet18'"),
    ("device", "cuda:1", "gpu", ""),
])
def test_check_setting_checks_the_form_of_free_text_settings(name, good, bad, hint):
    """A sweep checks each sampled value on its own, so a bad form must fail there too."""
    assert check_setting(name, good) == good
    with pytest.raises(ConfigError, match=f"^{name}: expected.*{hint}"):
        check_setting(name, bad)
