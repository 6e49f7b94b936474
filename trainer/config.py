"""The one training configuration: every setting a run depends on, typed and validated.

This module imports no torch, so the CLI and the sweep engine can validate settings and
search spaces without paying for it. A `TrainConfig` is frozen: build one with
`TrainConfig.from_dict` (study files, `--set key=value`, checkpoints) and change it with
`config.replace(**changes)`; both validate every field and name the offending one.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from torchsweep.trainer.errors import ConfigError
from torchsweep.trainer.goal import Goal

# Metrics `fit` reports after every epoch. Sweeps may optimise any of them; the goal says
# which direction is better, so a study can default `metric.goal` sensibly.
EPOCH_METRICS: dict[str, Goal] = {
    "train_loss": Goal.MINIMIZE,
    "train_acc": Goal.MAXIMIZE,
    "val_loss": Goal.MINIMIZE,
    "val_acc": Goal.MAXIMIZE,
    "val_nll": Goal.MINIMIZE,             # cross-entropy without label smoothing
    "val_ece": Goal.MINIMIZE,             # expected calibration error, 15 bins
    "val_overconfidence": Goal.MINIMIZE,  # mean confidence - accuracy; < 0 is underconfident
    "val_ece_tempered": Goal.MINIMIZE,    # ECE after temperature scaling on the validation split
    "lr": Goal.MAXIMIZE,
    "epoch_seconds": Goal.MINIMIZE,
    "samples_per_second": Goal.MAXIMIZE,
    "steps": Goal.MINIMIZE,               # optimizer steps so far (running total)
    "samples_seen": Goal.MINIMIZE,        # training samples so far (running total)
    "wall_seconds": Goal.MINIMIZE,        # training and evaluation time so far (running total)
}
# Also in an epoch's row, but neither direction is better, so no study may optimise them:
#   val_temperature   the T that calibrates the validation logits (> 1: overconfident)
#   grad_noise_scale  the gradient noise scale in samples (trainer/noise_scale.py), an estimate
#                     of the critical batch size; in a row only once there is one, so never
#                     with noise_scale_every=0 (a missing key, not NaN: JSON, W&B and
#                     TensorBoard all take that as it is)
EPOCH_DIAGNOSTICS: tuple[str, ...] = ("val_temperature", "grad_noise_scale")

BUILTIN_DATASETS = ("digits", "mnist1d", "mnist", "fashion_mnist", "cifar10", "cifar100",
                    "fake")
# Samples in each built-in dataset before the train/validation split (the torchvision ones
# are their training sets), so a batch size can be checked without loading any of them.
DATASET_SIZES = {"digits": 1797, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
                 "cifar100": 50000, "fake": 2000}
# MNIST-1D is generated with `num_samples` samples, as many of each of its ten classes.
MNIST1D_CLASSES = 10
BUILTIN_MODELS = ("cnn", "mlp", "resnet18")
# A user's own factory, named as `package.module:function`.
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _setting(default: Any, doc: str, *, choices: tuple | None = None, low: float | None = None,
             high: float | None = None, low_open: bool = False, high_open: bool = False,
             unit: str = "") -> Any:
    """A config field with the documentation and bounds that validation and `--help` read."""
    return field(default=default, metadata={
        "doc": doc, "choices": choices, "low": low, "high": high,
        "low_open": low_open, "high_open": high_open, "unit": unit})


@dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    dataset: str = _setting("digits", "digits, mnist1d, mnist, fashion_mnist, cifar10, cifar100, "
                            "fake, imagefolder:<path>, or package.module:function")
    data_dir: str = _setting("./data", "folder holding torchvision datasets' files and the "
                             "generated mnist1d")
    num_samples: int = _setting(4000, "samples mnist1d generates (train and validation "
                                "together), a multiple of its 10 classes", low=10, high=1_000_000,
                                unit="samples")
    download: bool = _setting(False, "let torchvision download missing dataset files")
    val_fraction: float = _setting(0.2, "share of the training data held out for validation",
                                   low=0.0, high=1.0, low_open=True, high_open=True)
    loader: str = _setting("auto", "batches from tensors in memory, or a DataLoader; auto picks "
                           "tensors for datasets that fit", choices=("auto", "tensor", "dataloader"))
    num_workers: int = _setting(0, "DataLoader worker processes", low=0, unit="processes")
    # --- model ---
    model: str = _setting("cnn", "cnn, mlp, resnet18, or package.module:function")
    width: int = _setting(32, "channels of the first cnn stage; mlp hidden units are 8x",
                          low=1, unit="channels")
    init: str = _setting("default", "weight initialisation scheme",
                         choices=("default", "kaiming_normal", "xavier_uniform", "normal"))
    # --- optimisation ---
    epochs: int = _setting(10, "passes over the training split", low=1, unit="epochs")
    # More than one lets a sweep's pruner stop a bad trial within an epoch (a first rung at
    # half an epoch). Each pass is a validation forward over 1/4 as many samples as a training
    # epoch at val_fraction 0.2; what 2 and 4 cost: bench/RESULTS.md, "What an evaluation
    # costs".
    evaluations_per_epoch: int = _setting(
        2, "validation passes per epoch, at even shares of the training split (sweeps prune "
        "at each)", low=1, unit="evaluations")
    batch_size: int = _setting(64, "samples per optimizer step", low=1, unit="samples")
    drop_last: bool = _setting(False, "drop the last incomplete batch of each epoch")
    optimizer: str = _setting("sgd", "optimizer",
                              choices=("sgd", "adam", "adamw", "rmsprop", "rprop"))
    lr: float = _setting(0.05, "learning rate at batch_size=base_batch_size (peak lr for onecycle)",
                         low=0.0, low_open=True)
    lr_scaling: str = _setting("none", "how lr scales with batch_size/base_batch_size",
                               choices=("none", "linear", "sqrt"))
    base_batch_size: int = _setting(64, "batch size at which lr is given", low=1, unit="samples")
    momentum: float = _setting(0.9, "momentum for sgd and rmsprop", low=0.0, high=1.0,
                               high_open=True)
    nesterov: bool = _setting(False, "Nesterov momentum (sgd with momentum > 0)")
    beta1: float = _setting(0.9, "Adam/AdamW first-moment decay", low=0.0, high=1.0, high_open=True)
    beta2: float = _setting(0.999, "Adam/AdamW second-moment decay", low=0.0, high=1.0,
                            high_open=True)
    weight_decay: float = _setting(0.0, "L2 penalty (decoupled for adamw)", low=0.0)
    scheduler: str = _setting("cosine", "learning-rate schedule after warmup", choices=(
        "constant", "step", "exponential", "cosine", "onecycle", "plateau"))
    warmup_epochs: int = _setting(0, "linear warmup from lr/100, stepped per batch", low=0,
                                  unit="epochs")
    step_size: int = _setting(3, "epochs between decays for step", low=1, unit="epochs")
    gamma: float = _setting(0.1, "decay factor: per step_size for step, per epoch for exponential, "
                            "per plateau for plateau", low=0.0, high=1.0, low_open=True)
    patience: int = _setting(2, "epochs without val_loss improvement before plateau decays",
                             low=0, unit="epochs")
    label_smoothing: float = _setting(0.0, "cross-entropy label smoothing epsilon", low=0.0,
                                      high=1.0, high_open=True)
    grad_clip: float = _setting(0.0, "max global gradient L2 norm; 0 turns clipping off", low=0.0)
    noise_scale_every: int = _setting(
        20, "optimizer steps between gradient noise scale measurements (each adds one backward "
        "pass to its step); 0 turns them off", low=0, unit="steps")
    # --- execution ---
    amp: str = _setting("off", "autocast dtype (fp16 needs CUDA)", choices=("off", "bf16", "fp16"))
    channels_last: bool = _setting(False, "channels_last memory format for conv models")
    compile: bool = _setting(False, "torch.compile the model")
    device: str = _setting("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    threads: int = _setting(0, "torch intra-op threads; 0 keeps torch's default", low=0,
                            unit="threads")
    seed: int = _setting(0, "seeds init, split and shuffling", low=0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check(f, getattr(self, f.name)))
        _check_combinations(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """Build from plain values (strings are parsed); unknown names fail with 'did you mean'."""
        unknown = [k for k in values if k not in FIELDS]
        if unknown:
            raise ConfigError(None, unknown_setting_message(unknown[0]))
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def effective_lr(self) -> float:
        """lr after scaling with batch size: linear (Goyal et al.) or square-root."""
        ratio = self.batch_size / self.base_batch_size
        return self.lr * {"none": 1.0, "linear": ratio, "sqrt": ratio ** 0.5}[self.lr_scaling]


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}


def unknown_setting_message(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known settings: {', '.join(FIELDS)}"
    return f"unknown setting '{name}'{hint}"


def check_setting(name: str, value: Any) -> Any:
    """Validate one setting on its own (a study's fixed value or a sampled one); returns it parsed."""
    if name not in FIELDS:
        raise ConfigError(None, unknown_setting_message(name))
    return _check(FIELDS[name], value)


def describe(name: str) -> str:
    """One line: the field's doc, and its allowed set or range with unit."""
    meta = FIELDS[name].metadata
    return f"{meta['doc']} ({allowed(name)})"


def allowed(name: str) -> str:
    f = FIELDS[name]
    meta = f.metadata
    if meta["choices"]:
        return "one of " + ", ".join(meta["choices"])
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "text"}[_type_of(f)]
    low, high = meta["low"], meta["high"]
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if meta['low_open'] else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if meta['high_open'] else '<='} {high:g}")
    unit = f" {meta['unit']}" if meta["unit"] else ""
    return f"{kind}{' ' + ' and '.join(bounds) if bounds else ''}{unit}"


def _type_of(f: dataclasses.Field[Any]) -> type:
    # The annotations are strings (`from __future__ import annotations`): "int", "float", ...
    return {"bool": bool, "int": int, "float": float, "str": str}[str(f.type)]


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Parse strings from the command line; accept YAML's natural types otherwise."""
    kind = _type_of(f)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ValueError
    if kind is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value)
        raise ValueError
    if kind is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float, str)):
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
            return number
        raise ValueError
    if not isinstance(value, str):
        raise ValueError
    return value


# Values quoted in messages come from user files, where a YAML alias can make a list that
# would print as gigabytes: quotes are cut short at every level.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxlist, _QUOTE.maxdict = 2, 4, 4
_QUOTE.maxstring = _QUOTE.maxother = 60


def quote(value: Any) -> str:
    """A user's value as a message quotes it: repr, cut short at every level."""
    try:
        return _QUOTE.repr(value)
    except ValueError:  # an int with more digits than Python will print
        return f"<{type(value).__name__}>"


def _check(f: dataclasses.Field, value: Any) -> Any:
    meta = f.metadata
    try:
        value = _coerce(f, value)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f.name, f"expected {allowed(f.name)}, got {quote(value)}") from None
    if meta["choices"] and value not in meta["choices"]:
        close = difflib.get_close_matches(value, meta["choices"], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f.name, f"expected {allowed(f.name)}, got {value!r}{hint}")
    low, high = meta["low"], meta["high"]
    if low is not None and (value < low or (meta["low_open"] and value == low)):
        raise ConfigError(f.name, f"expected {allowed(f.name)}, got {value!r}")
    if high is not None and (value > high or (meta["high_open"] and value == high)):
        raise ConfigError(f.name, f"expected {allowed(f.name)}, got {value!r}")
    _check_form(f.name, value)
    return value


def _check_form(name: str, value: Any) -> None:
    """Free-text settings whose form is known; checked per field so check_setting sees it too."""
    if name == "dataset" and value not in BUILTIN_DATASETS \
            and not value.startswith("imagefolder:") and not _FACTORY.match(value):
        close = difflib.get_close_matches(value, BUILTIN_DATASETS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError("dataset", f"expected one of {', '.join(BUILTIN_DATASETS)}, "
                          f"imagefolder:<path> or package.module:function, got {value!r}{hint}")
    if name == "model" and value not in BUILTIN_MODELS and not _FACTORY.match(value):
        close = difflib.get_close_matches(value, BUILTIN_MODELS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError("model", f"expected one of {', '.join(BUILTIN_MODELS)} or "
                          f"package.module:function, got {value!r}{hint}")
    if name == "num_samples" and value % MNIST1D_CLASSES:
        raise ConfigError("num_samples", f"expected a multiple of {MNIST1D_CLASSES} (mnist1d makes "
                          f"as many samples of each of its {MNIST1D_CLASSES} classes), got {value}")
    if name == "device" and not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise ConfigError("device", f"expected auto, cpu, cuda or cuda:N, got {value!r}")


def _check_combinations(c: TrainConfig) -> None:
    """Settings that are each valid but cannot work together, caught before any training."""
    if c.nesterov and (c.optimizer != "sgd" or c.momentum == 0):
        raise ConfigError("nesterov", "needs optimizer=sgd with momentum > 0")
    if c.optimizer == "rprop" and c.weight_decay > 0:
        raise ConfigError("weight_decay", "rprop takes no weight decay; set weight_decay=0")
    if c.scheduler == "onecycle" and c.optimizer == "rprop":
        raise ConfigError("scheduler", "onecycle cycles momentum, which rprop has not; "
                          "pick another optimizer or scheduler")
    if c.scheduler == "onecycle" and c.warmup_epochs > 0:
        raise ConfigError("warmup_epochs", "onecycle warms up by itself; set warmup_epochs=0")
    if c.channels_last and c.dataset == "mnist1d":
        raise ConfigError("channels_last", "is a memory format for images; mnist1d samples are "
                          "sequences, so set channels_last=false")
    if c.warmup_epochs >= c.epochs:
        raise ConfigError("warmup_epochs", f"must be fewer than epochs ({c.epochs})")


def split_sizes(n: int, val_fraction: float) -> tuple[int, int]:
    """(train, validation) sample counts when n samples are split at val_fraction.

    The validation share is rounded up (1797 digits at 0.2: 1437 train, 360 val); round()
    guards against 100 * 0.07 = 7.000000000000001. Each side keeps at least one sample.
    """
    n_val = min(max(math.ceil(round(n * val_fraction, 9)), 1), n - 1)
    return n - n_val, n_val


def train_split_size(config: TrainConfig) -> int | None:
    """Samples in a built-in dataset's training split (one epoch), known without loading it;
    None for the others."""
    size = config.num_samples if config.dataset == "mnist1d" else DATASET_SIZES.get(config.dataset)
    return None if size is None else split_sizes(size, config.val_fraction)[0]


def check_batch_fits(config: TrainConfig, n_train: int | None = None) -> None:
    """Refuse a batch larger than the training split: the one check of a batch size.

    n_train: the split's size once the data is loaded; without it, a built-in dataset's size
    is known before loading (`train_split_size`) and other datasets pass until they load.
    Not part of TrainConfig's own validation, for that reason.
    """
    if n_train is None:
        n_train = train_split_size(config)
    if n_train is not None and config.batch_size > n_train:
        raise ConfigError("batch_size", f"{config.batch_size} is larger than the "
                          f"{config.dataset} training split ({n_train} samples at val_fraction "
                          f"{config.val_fraction:g}); use batch_size <= {n_train}")
