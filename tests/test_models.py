"""trainer.models: the built-in architectures, user factories, init schemes."""
import math
import textwrap

import pytest
import torch
from torch import nn

from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.errors import ConfigError
from torchsweep.trainer.models import (
    SmallCNN,
    build_model,
    count_parameters,
    initialise,
)


def reference_digits_net() -> nn.Module:
    """The hand-written peer script's model for 1x8x8 digits."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 2 * 2, 10))


def layers(model, kind):
    return [m for m in model.modules() if isinstance(m, kind)]


def test_cnn_on_digits_matches_the_reference_net():
    model = build_model(TrainConfig(), (1, 8, 8), 10)
    assert isinstance(model, SmallCNN)
    conv1, conv2 = layers(model, nn.Conv2d)
    (head,) = layers(model, nn.Linear)
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.padding) == \
        (1, 32, (3, 3), (1, 1))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size, conv2.padding) == \
        (32, 64, (3, 3), (1, 1))
    assert (head.in_features, head.out_features) == (256, 10)
    reference = reference_digits_net()
    assert count_parameters(model) == count_parameters(reference) == 21386
    # same structure: the reference's state dict loads with identical names and shapes
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


@pytest.mark.parametrize("shape, classes, width, head_inputs", [
    ((3, 32, 32), 10, 32, 64 * 8 * 8),
    ((1, 28, 28), 10, 32, 64 * 7 * 7),
    ((3, 32, 32), 100, 16, 32 * 8 * 8),
    ((1, 30, 22), 7, 8, 16 * 7 * 5),
])
def test_cnn_is_sized_from_its_input(shape, classes, width, head_inputs):
    model = build_model(TrainConfig(width=width), shape, classes)
    conv1, conv2 = layers(model, nn.Conv2d)
    (head,) = layers(model, nn.Linear)
    assert conv1.in_channels == shape[0] and conv1.out_channels == width
    assert conv2.out_channels == 2 * width
    assert (head.in_features, head.out_features) == (head_inputs, classes)
    assert model(torch.randn(2, *shape)).shape == (2, classes)


@pytest.mark.parametrize("name", ["mlp", "resnet18", "cnn"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_forward_shapes(name, shape):
    model = build_model(TrainConfig(model=name), shape, 10).eval()
    with torch.no_grad():
        assert model(torch.randn(3, *shape)).shape == (3, 10)


def test_mlp_hidden_units_are_eight_times_width():
    model = build_model(TrainConfig(model="mlp", width=4), (1, 8, 8), 10)
    assert [(m.in_features, m.out_features) for m in layers(model, nn.Linear)] == \
        [(64, 32), (32, 32), (32, 10)]


def test_resnet18_keeps_full_resolution_stem():
    model = build_model(TrainConfig(model="resnet18"), (3, 32, 32), 100)
    assert model.conv1.in_channels == 3 and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model.fc.out_features == 100


def test_build_model_is_seeded_by_torch_rng():
    torch.manual_seed(1)
    a = build_model(TrainConfig(), (1, 8, 8), 10)
    torch.manual_seed(1)
    b = build_model(TrainConfig(), (1, 8, 8), 10)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


# --- initialisation -----------------------------------------------------------------------

class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1000, 400)
        self.conv = nn.Conv2d(16, 64, 3)


def test_kaiming_normal_fan_in():
    torch.manual_seed(0)
    model = Wide()
    initialise(model, "kaiming_normal")
    assert model.fc.weight.std().item() == pytest.approx(math.sqrt(2 / 1000), rel=0.02)
    assert model.fc.weight.mean().item() == pytest.approx(0.0, abs=2e-3)
    assert model.conv.weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.03)
    assert torch.count_nonzero(model.fc.bias) == 0 and torch.count_nonzero(model.conv.bias) == 0


def test_xavier_uniform_bounds():
    torch.manual_seed(0)
    model = Wide()
    initialise(model, "xavier_uniform")
    bound = math.sqrt(6 / (1000 + 400))
    weight = model.fc.weight
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.99 * bound  # fills the whole interval
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert torch.count_nonzero(model.fc.bias) == 0


def test_default_init_keeps_pytorch_init():
    torch.manual_seed(0)
    expected = Wide()
    torch.manual_seed(0)
    model = Wide()
    initialise(model, "default")
    assert torch.equal(model.fc.weight, expected.fc.weight)
    assert torch.equal(model.fc.bias, expected.fc.bias)
    assert torch.count_nonzero(model.fc.bias) > 0


@pytest.fixture
def bn_factory(tmp_path, monkeypatch):
    """A user model module with BatchNorm, importable as `user_bn_models:tiny`."""
    (tmp_path / "user_bn_models.py").write_text(textwrap.dedent("""
        from torch import nn

        def tiny(input_shape, num_classes, config):
            channels, height, width = input_shape
            return nn.Sequential(
                nn.Conv2d(channels, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Flatten(), nn.Linear(64 * height * width, 256), nn.BatchNorm1d(256),
                nn.ReLU(), nn.Linear(256, num_classes))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_bn_models:tiny"


def test_user_factory_builds_and_forwards(bn_factory):
    model = build_model(TrainConfig(model=bn_factory), (1, 8, 8), 10)
    assert len(layers(model, nn.BatchNorm2d)) == 1 and len(layers(model, nn.BatchNorm1d)) == 1
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)


def test_normal_init_with_batchnorm(bn_factory):
    torch.manual_seed(0)
    model = build_model(TrainConfig(model=bn_factory, init="normal"), (1, 8, 8), 10)
    big = layers(model, nn.Linear)[0]  # 4096 -> 256
    assert big.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert big.weight.mean().item() == pytest.approx(0.0, abs=1e-3)
    for linear_or_conv in layers(model, (nn.Linear, nn.Conv2d)):
        assert torch.count_nonzero(linear_or_conv.bias) == 0
    for bn in layers(model, (nn.BatchNorm1d, nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


@pytest.mark.parametrize("scheme", ["kaiming_normal", "xavier_uniform"])
def test_every_scheme_resets_batchnorm(bn_factory, scheme):
    model = build_model(TrainConfig(model=bn_factory, init=scheme), (1, 8, 8), 10)
    for bn in layers(model, (nn.BatchNorm1d, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_init_applies_to_builtin_models():
    torch.manual_seed(0)
    model = build_model(TrainConfig(model="mlp", init="kaiming_normal", width=128), (1, 8, 8), 10)
    hidden = layers(model, nn.Linear)[1]  # 1024 -> 1024
    assert hidden.weight.std().item() == pytest.approx(math.sqrt(2 / 1024), rel=0.02)


def test_user_factory_that_cannot_load(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="^model: cannot load"):
        build_model(TrainConfig(model="no_such_module_xyz:net"), (1, 8, 8), 10)
    (tmp_path / "user_models_empty.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="^model: cannot load"):
        build_model(TrainConfig(model="user_models_empty:net"), (1, 8, 8), 10)
