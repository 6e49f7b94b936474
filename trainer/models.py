"""Models and weight initialisation, chosen by name from the training config."""
from __future__ import annotations

import importlib
import math

from torch import nn

from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.errors import ConfigError


class SmallCNN(nn.Sequential):
    """Two conv-ReLU-maxpool stages and a linear head.

    For 1x8x8 digits at width 32 this is
    conv(1->32, 3, pad 1)-ReLU-maxpool2 -> conv(32->64, 3, pad 1)-ReLU-maxpool2 -> linear(256->10).
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, width: int):
        channels, height, width_px = input_shape
        super().__init__(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (height // 4) * (width_px // 4), num_classes),
        )


class SmallCNN1d(nn.Sequential):
    """Three conv-ReLU-maxpool stages over a sequence and a linear head: the cnn for C x L samples.

    For MNIST-1D's 1x40 at width 32 this is conv(1->32, 5, pad 2)-ReLU-maxpool2 ->
    conv(32->64, 3, pad 1)-ReLU-maxpool2 -> conv(64->64, 3, pad 1)-ReLU-maxpool2 -> linear(320->10).
    The first kernel is wider because a digit's features span several steps of the sequence.
    """

    def __init__(self, input_shape: tuple[int, int], num_classes: int, width: int):
        channels, length = input_shape
        super().__init__(
            nn.Conv1d(channels, width, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (length // 8), num_classes),
        )


def _cnn(input_shape: tuple[int, ...], num_classes: int, width: int) -> nn.Module:
    """2-D convolutions for C x H x W images, 1-D ones for C x L sequences."""
    if len(input_shape) == 2:
        channels, length = input_shape
        return SmallCNN1d((channels, length), num_classes, width)
    channels, height, width_px = input_shape
    return SmallCNN((channels, height, width_px), num_classes, width)


def _mlp(input_shape: tuple[int, ...], num_classes: int, width: int) -> nn.Module:
    """Flattens any sample shape, images or sequences."""
    inputs = math.prod(input_shape)
    hidden = 8 * width
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def _resnet18(input_shape: tuple[int, ...], num_classes: int, width: int) -> nn.Module:
    if len(input_shape) != 3:
        raise ConfigError("model", f"resnet18 takes C x H x W images, not samples of shape "
                          f"{tuple(input_shape)}; use cnn or mlp")
    import torchvision

    model = torchvision.models.resnet18(num_classes=num_classes)
    # ImageNet's 7x7 stride-2 stem and max-pool would shrink 8x8 or 32x32 inputs to nothing;
    # the CIFAR-style stem keeps full resolution into the first stage.
    model.conv1 = nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


_BUILTIN = {"cnn": lambda shape, classes, c: _cnn(shape, classes, c.width),
            "mlp": lambda shape, classes, c: _mlp(shape, classes, c.width),
            "resnet18": lambda shape, classes, c: _resnet18(shape, classes, c.width)}


def build_model(config: TrainConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The named model, initialised per `config.init`.

    A user's model is `package.module:function`, called as function(input_shape, num_classes, config).
    """
    if config.model in _BUILTIN:
        model = _BUILTIN[config.model](input_shape, num_classes, config)
    else:
        module_name, function_name = config.model.split(":")
        try:
            factory = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as error:
            raise ConfigError("model", f"cannot load {config.model!r}: {error}") from None
        model = factory(input_shape, num_classes, config)
    initialise(model, config.init)
    return model


def initialise(model: nn.Module, scheme: str) -> None:
    """The `init` setting's weight init schemes; `default` keeps PyTorch's own."""
    if scheme == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            if scheme == "kaiming_normal":
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            elif scheme == "xavier_uniform":
                nn.init.xavier_uniform_(module.weight)
            else:  # normal: DCGAN-style N(0, 0.02)
                nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

