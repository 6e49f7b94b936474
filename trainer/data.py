"""Datasets and the batches a training run draws from them.

`load_data(config)` builds the train/validation split of `config.dataset`; `make_batches`
turns it into per-epoch batch iterables already on the training device. Datasets small
enough to sit in memory become tensors and are batched by indexing on the device, which
avoids the per-batch cost of a DataLoader; file-backed datasets go through a DataLoader.

Shuffling draws only from the generator the caller passes in, so a run resumed from a
checkpoint of that generator's state sees the same batches as one that never stopped.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sized, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset, TensorDataset

from torchsweep.trainer import mnist1d
from torchsweep.trainer.config import DATASET_SIZES, TrainConfig, check_batch_fits, split_sizes
from torchsweep.trainer.errors import DataError

# torchvision is imported inside the loaders that need it, and scikit-learn not at all (its
# digits file is read directly): each takes a second or more to import.


def size(dataset: Dataset[Any]) -> int:
    """Samples in `dataset`: every dataset here has a length, which torch's `Dataset` type
    leaves out (a streaming dataset has none)."""
    return len(cast(Sized, dataset))


@dataclass(eq=False)
class Data:
    """A dataset split for training, and what a model needs to know about its samples."""

    train: Dataset      # training split, yields (x: float tensor CxHxW or CxL, y: int)
    val: Dataset        # validation split
    input_shape: tuple[int, ...]    # (C, H, W) for images, (C, L) for sequences (mnist1d)
    num_classes: int
    # (x_train, y_train, x_val, y_val) float32 / int64, when the whole dataset sits in
    # memory as tensors; None otherwise.
    tensors: tuple[Tensor, Tensor, Tensor, Tensor] | None
    # `tensors` copied to each device they were batched on, so trials that share this
    # Data copy them once.
    _on_device: dict[torch.device, tuple[Tensor, ...]] = field(
        default_factory=dict, init=False, repr=False)


def load_data(config: TrainConfig) -> Data:
    """The train/validation split of config.dataset; raises DataError when it cannot."""
    name = config.dataset
    if name == "digits":
        return _digits(config)
    if name == "mnist1d":
        return _from_tensors(*mnist1d.tensors(config), mnist1d.NUM_CLASSES, config)
    if name in _TORCHVISION:
        return _torchvision(config)
    if name == "fake":
        return _fake(config)
    if name.startswith("imagefolder:"):
        return _image_folder(config, name[len("imagefolder:"):])
    return _factory(config)


# --- splitting ----------------------------------------------------------------------------

def _split(n: int, config: TrainConfig) -> tuple[Tensor, Tensor]:
    """Train and validation indices (sizes from `split_sizes`): a permutation seeded by
    config.seed, validation last."""
    n_train, _ = split_sizes(n, config.val_fraction)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed))
    return perm[:n_train], perm[n_train:]


def _from_tensors(x: Tensor, y: Tensor, num_classes: int, config: TrainConfig) -> Data:
    train_idx, val_idx = _split(len(x), config)
    tensors = (x[train_idx], y[train_idx], x[val_idx], y[val_idx])
    return Data(train=TensorDataset(tensors[0], tensors[1]),
                val=TensorDataset(tensors[2], tensors[3]),
                input_shape=tuple(x.shape[1:]), num_classes=num_classes, tensors=tensors)


def _from_dataset(full: Dataset, num_classes: int, config: TrainConfig) -> Data:
    train_idx, val_idx = _split(size(full), config)
    train = Subset(full, train_idx.tolist())
    return Data(train=train, val=Subset(full, val_idx.tolist()),
                input_shape=tuple(train[0][0].shape), num_classes=num_classes, tensors=None)


# --- built-in datasets --------------------------------------------------------------------

def _digits(config: TrainConfig) -> Data:
    x, y = _digits_tensors()
    return _from_tensors(x, y, 10, config)


@functools.cache
def _digits_tensors() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled copy of the UCI digits (always offline): 1797 images, 1x8x8,
    grey levels 0..16 scaled to [0, 1], and their labels. Read straight from the package's
    CSV, as `sklearn.datasets.load_digits` does, because importing scikit-learn costs every
    worker process over a second before its first trial."""
    spec = importlib.util.find_spec("sklearn")
    package = spec.submodule_search_locations if spec else None
    path = Path(package[0], "datasets", "data", "digits.csv.gz") if package else None
    if path is None or not path.is_file():
        raise DataError("digits: scikit-learn's bundled digits.csv.gz was not found; "
                        "install it with `pip install scikit-learn`")
    import numpy as np

    table = torch.from_numpy(np.loadtxt(path, delimiter=",", dtype=np.float32))
    return table[:, :-1].reshape(-1, 1, 8, 8) / 16.0, table[:, -1].to(torch.int64)


@dataclass(frozen=True)
class _Torchvision:
    cls: str                  # class in torchvision.datasets
    folder: str               # where, under data_dir, it looks for its files
    files: tuple[str, ...]    # the files it needs there, even for the train set alone
    mean: tuple[float, ...]   # per-channel statistics of the train set, pixels in [0, 1]
    std: tuple[float, ...]


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION = {
    "mnist": _Torchvision("MNIST", "MNIST/raw", _MNIST_FILES, (0.1307,), (0.3081,)),
    "fashion_mnist": _Torchvision("FashionMNIST", "FashionMNIST/raw", _MNIST_FILES,
                                  (0.2860,), (0.3530,)),
    "cifar10": _Torchvision("CIFAR10", "cifar-10-batches-py",
                            tuple(f"data_batch_{i}" for i in range(1, 6))
                            + ("test_batch", "batches.meta"),
                            (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": _Torchvision("CIFAR100", "cifar-100-python", ("train", "test", "meta"),
                             (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def _torchvision(config: TrainConfig) -> Data:
    """Always the train set, read whole into memory and normalised once."""
    import torchvision

    spec = _TORCHVISION[config.dataset]
    root = os.path.expanduser(config.data_dir)
    folder = os.path.join(root, spec.folder)
    try:
        ds = getattr(torchvision.datasets, spec.cls)(root=root, train=True,
                                                     download=config.download)
    except (RuntimeError, OSError) as e:
        files = ", ".join(spec.files)
        if config.download:
            # MNIST lists every mirror it tried; the last line is the last mirror's error.
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise DataError(f"{config.dataset}: download into {folder} failed ({reason}); "
                            f"put {files} there yourself") from None
        raise DataError(f"{config.dataset}: dataset files missing or corrupt in {folder} "
                        f"(expected {files}); set download=true to fetch them") from None
    x = torch.as_tensor(ds.data)
    # MNIST-family images are N x H x W; CIFAR's are N x H x W x C.
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    x = x.float().div_(255).sub_(mean).div_(std)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return _from_tensors(x, y, len(ds.classes), config)


def _fake(config: TrainConfig) -> Data:
    """Random CIFAR-10-sized images for benchmarks, read through a DataLoader like files.

    FakeData seeds each image from its index (plus the offset), so it is the same data on
    every call and in every worker process.
    """
    from torchvision.datasets import FakeData
    from torchvision.transforms import ToTensor

    full = FakeData(size=DATASET_SIZES["fake"], image_size=(3, 32, 32), num_classes=10,
                    transform=ToTensor(), random_offset=config.seed)
    return _from_dataset(full, 10, config)


# --- image folders ------------------------------------------------------------------------

_GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _open_image(path: str, mode: str):
    """ImageFolder's loader, converting every image to the first image's channels."""
    from PIL import Image

    with open(path, "rb") as f:
        return Image.open(f).convert(mode)


def _image_folder(config: TrainConfig, path: str) -> Data:
    """`<path>/<class>/<image>`, split by seed; or `<path>/train/...` and `<path>/val/...`."""
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import Compose, Resize, ToTensor

    root = Path(path).expanduser()
    layout = f"expected {root}/<class>/<image>.png, or train/ and val/ folders laid out so"
    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a folder; {layout}")
    has_splits = (root / "train").is_dir() and (root / "val").is_dir()
    try:
        folders = [ImageFolder(root / "train"), ImageFolder(root / "val")] if has_splits \
            else [ImageFolder(root)]
    except FileNotFoundError as e:  # ImageFolder's "no class folders" / "no valid files"
        raise DataError(f"imagefolder: no images found in {root} ({str(e).splitlines()[0]}); "
                        f"{layout}") from None
    if has_splits and folders[1].class_to_idx != folders[0].class_to_idx:
        raise DataError(f"imagefolder: {root}/train and {root}/val must hold the same class "
                        f"folders (train: {', '.join(folders[0].classes)}; "
                        f"val: {', '.join(folders[1].classes)})")
    # Every image is converted to the first one's channels and size, so batches stack.
    # They are set after the scan, which finds the first image, rather than scanning twice.
    with Image.open(folders[0].samples[0][0]) as image:
        mode = "L" if image.mode in _GRAYSCALE_MODES else "RGB"
        width, height = image.size
    for folder in folders:
        folder.loader = functools.partial(_open_image, mode=mode)
        # Resize returns images of the right size untouched, so only odd ones pay for it.
        folder.transform = Compose([Resize((height, width)), ToTensor()])
    num_classes = len(folders[0].classes)
    if not has_splits:
        return _from_dataset(folders[0], num_classes, config)
    return Data(train=folders[0], val=folders[1],
                input_shape=(1 if mode == "L" else 3, height, width),
                num_classes=num_classes, tensors=None)


# --- a user's own factory -----------------------------------------------------------------

def _factory(config: TrainConfig) -> Data:
    """`package.module:function`, called with the config; returns (train, val, num_classes)."""
    module_name, function_name = config.dataset.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise DataError(f"dataset {config.dataset}: cannot import {module_name} ({e}); "
                        "check the name and that its folder is on PYTHONPATH") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise DataError(f"dataset {config.dataset}: module {module_name} has no function "
                        f"{function_name}")
    result = function(config)
    if not (isinstance(result, tuple) and len(result) == 3):
        raise DataError(f"dataset {config.dataset}: must return (train_dataset, val_dataset, "
                        f"num_classes), got {type(result).__name__}")
    train, val, num_classes = result
    input_shape = tuple(train[0][0].shape)
    if len(input_shape) not in (2, 3):
        raise DataError(f"dataset {config.dataset}: samples must be C x H x W (images) or "
                        f"C x L (sequences) tensors, got shape {input_shape}")
    return Data(train=train, val=val, input_shape=input_shape, num_classes=int(num_classes),
                tensors=None)


# --- batches ------------------------------------------------------------------------------

def make_batches(data: Data, config: TrainConfig, device: torch.device,
                 generator: torch.Generator) -> tuple[Batches, Batches]:
    """(train, val) batches on `device`; train reshuffled each epoch from `generator` only."""
    check_batch_fits(config, size(data.train))
    if config.loader == "tensor" and data.tensors is None:
        raise DataError(f"loader: dataset {config.dataset} streams from files, not tensors in "
                        "memory; use loader=auto or loader=dataloader")
    if config.loader != "dataloader" and data.tensors is not None:
        if device not in data._on_device:
            data._on_device[device] = tuple(t.to(device, non_blocking=True)
                                            for t in data.tensors)
        x_train, y_train, x_val, y_val = data._on_device[device]
        return (TensorBatches(x_train, y_train, config.batch_size, config.drop_last, generator),
                TensorBatches(x_val, y_val, config.batch_size, False, None))
    return (LoaderBatches(data.train, config, device, generator),
            LoaderBatches(data.val, config, device, None))


class TensorBatches:
    """Batches indexed straight out of tensors already on the device."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, drop_last: bool,
                 generator: torch.Generator | None):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.generator = generator  # None: in order, as validation wants

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        size = self.batch_size
        if self.generator is None:
            for start in range(0, len(self) * size, size):
                yield self.x[start:start + size], self.y[start:start + size]
            return
        # Drawn on the CPU, where the caller's generator lives, then moved in one copy.
        order = torch.randperm(len(self.x), generator=self.generator).to(self.x.device,
                                                                         non_blocking=True)
        for start in range(0, len(self) * size, size):
            index = order[start:start + size]
            yield self.x[index], self.y[index]


class LoaderBatches:
    """Batches from a DataLoader, copied to the device as they come."""

    def __init__(self, dataset: Dataset, config: TrainConfig, device: torch.device,
                 generator: torch.Generator | None):
        self.device = device
        self.generator = generator  # None: in order, as validation wants
        # The order comes from a generator of the sampler's own, reseeded each epoch from
        # one draw of the caller's. Handing the caller's generator to the DataLoader would
        # not resume exactly: the DataLoader also draws its worker seed from it, and with
        # persistent workers only on the first epoch, so a resumed run would draw once more
        # than the run it continues. The worker seed comes from config.seed instead, which
        # also keeps the DataLoader off the global RNG.
        self.order = torch.Generator()
        shuffle = generator is not None
        self.loader = DataLoader(
            dataset, batch_size=config.batch_size,
            sampler=RandomSampler(cast(Sized, dataset), generator=self.order) if shuffle
            else None,
            generator=torch.Generator().manual_seed(config.seed),
            drop_last=config.drop_last and shuffle,
            num_workers=config.num_workers, pin_memory=device.type == "cuda",
            persistent_workers=config.num_workers > 0)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self.generator is not None:
            self.order.manual_seed(int(torch.randint(2 ** 62, (), generator=self.generator)))
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


Batches = TensorBatches | LoaderBatches
