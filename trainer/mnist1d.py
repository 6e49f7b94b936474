"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"), made offline and cached.

Ten classes of 1-D sequences of length 40: each digit's template is padded, scaled,
translated, sheared and given correlated and i.i.d. noise by the `mnist1d` package's own
generator (`mnist1d.data.make_dataset`). Its download is never used: the data is generated
here once, for the arguments below, and cached under `data_dir` in a file named by a hash of
those arguments, so another `num_samples` (or another version of the package) is another file
and never a stale one. The cache is a NumPy .npz read with allow_pickle=False: unlike the
package's own pickle cache, loading it cannot run code.

Small enough to sit in memory: the split becomes tensors, (N, 1, 40) float32 and (N,) int64,
so a sample is one channel of 40 steps, the form 1-D convolutions take.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from torchsweep.trainer.atomic import write_atomic
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.errors import DataError

# The generator's seed: the package's default, that of the published MNIST-1D. It fixes the
# dataset; `seed` still varies the split, the initialisation and the shuffling.
GENERATOR_SEED = 42
SEQUENCE_LENGTH = 40
NUM_CLASSES = 10
FOLDER = "mnist1d"


def tensors(config: TrainConfig) -> tuple[Tensor, Tensor]:
    """All samples, x (N, 1, 40) float32 and y (N,) int64, generated on the first call for
    these arguments and read from the cache after that."""
    return _tensors(str(Path(config.data_dir).expanduser()), config.num_samples)


@functools.cache
def _tensors(data_dir: str, num_samples: int) -> tuple[Tensor, Tensor]:
    # Cached per process too: a worker's trials share one copy, as digits' do.
    args = generator_args(num_samples, GENERATOR_SEED)
    path = cache_path(Path(data_dir), args)
    x, y = _read(path, args)
    if x is None:
        x, y = generate(args)
        write_atomic(path, lambda file: np.savez(file, x=x, y=y, args=json.dumps(args)))
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def generator_args(num_samples: int, seed: int) -> dict:
    """The generator's arguments: the package's defaults (`mnist1d.data.get_dataset_args`,
    written out so that a cache hit need not import the package, which takes seconds), with
    `num_samples` and `seed` ours. The package's version joins them in the cache key, so a
    generator that changed makes a new file."""
    return {
        "num_samples": num_samples, "seed": seed,
        "train_split": 0.8,              # the package's own split; ours replaces it
        "template_len": 12,              # points in each digit's template
        "padding": [36, 60],             # zeros appended to a template: a count in this range
        "scale_coeff": 0.4,              # amplitude scaled by 1 +- scale_coeff/2
        "max_translation": 48,           # circular shift, in points
        "corr_noise_scale": 0.25,        # Gaussian-smoothed noise in the background
        "iid_noise_scale": 2e-2,         # white noise everywhere
        "shear_scale": 0.75,             # linear ramp added, slope up to +- shear_scale/2
        "shuffle_seq": False,            # keep the order of steps: the data is a sequence
        "final_seq_length": SEQUENCE_LENGTH,
        "package_version": _package_version(),
    }


def _package_version() -> str:
    try:
        return importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        raise DataError("mnist1d: its generator's package is missing; install it with "
                        "`pip install mnist1d`") from None


def cache_path(data_dir: Path, args: dict) -> Path:
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]
    return data_dir / FOLDER / f"mnist1d-{args['num_samples']}-{key}.npz"


def generate(args: dict) -> tuple[np.ndarray, np.ndarray]:
    """x (N, 40) float32, normalised by the package to mean 0 and std 1, and y (N,) int64;
    N is num_samples rounded down to a multiple of ten (the package makes as many per class).

    The package seeds NumPy's and Python's global generators; their states are put back, so
    generating leaves every other draw in the process as it was.
    """
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(ObjectView({k: v for k, v in args.items() if k != "package_version"}))
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    # The package splits train/test itself; ours splits by `val_fraction` and `seed` instead.
    x = np.concatenate([made["x"], made["x_test"]]).astype(np.float32)
    y = np.concatenate([made["y"], made["y_test"]]).astype(np.int64)
    return x, y


def _read(path: Path, args: dict) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """The cached arrays, or (None, None) when there is no usable cache (it is then remade)."""
    try:
        with np.load(path, allow_pickle=False) as cached:
            if json.loads(str(cached["args"])) != args:
                return None, None
            x, y = cached["x"], cached["y"]
    except (OSError, ValueError, KeyError, EOFError):
        return None, None
    n = args["num_samples"] // NUM_CLASSES * NUM_CLASSES
    if x.shape != (n, SEQUENCE_LENGTH) or y.shape != (n,):
        return None, None
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)
