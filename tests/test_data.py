"""trainer.data: splits, batches on both paths, and every kind of dataset, all offline."""
import hashlib
import math
import pickle
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from cli_helpers import sweep_json
from PIL import Image

from torchsweep.trainer.checkpoint import load_checkpoint
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.errors import ConfigError
from torchsweep.trainer.data import DataError, LoaderBatches, TensorBatches, load_data, make_batches

CPU = torch.device("cpu")


def batches(data, config, seed=0):
    return make_batches(data, config, CPU, torch.Generator().manual_seed(seed))


def one_epoch(batch_iterable):
    return [(x.clone(), y.clone()) for x, y in batch_iterable]


@pytest.fixture(scope="module")
def digits():
    return load_data(TrainConfig())


# --- digits and the split -----------------------------------------------------------------

def test_digits_shapes_and_split(digits):
    x_train, y_train, x_val, y_val = digits.tensors
    assert (len(digits.train), len(digits.val)) == (1437, 360)
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert x_train.shape == (1437, 1, 8, 8) and x_val.shape == (360, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(y_train.tolist()) == set(range(10))


def test_digits_split_matches_the_peer_script(digits):
    """The hand-written Optuna script splits with perm[:1437], perm[1437:] of a seeded randperm."""
    from sklearn.datasets import load_digits
    raw = load_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    assert torch.equal(digits.tensors[0], x[perm[:1437]])
    assert torch.equal(digits.tensors[3], torch.tensor(raw.target)[perm[1437:]])


def test_split_is_deterministic_and_follows_the_seed(digits):
    again = load_data(TrainConfig())
    other = load_data(TrainConfig(seed=1))
    assert all(torch.equal(a, b) for a, b in zip(digits.tensors, again.tensors))
    assert not torch.equal(digits.tensors[0], other.tensors[0])


def test_val_fraction_sets_the_split_sizes():
    data = load_data(TrainConfig(val_fraction=0.5))
    assert len(data.train) + len(data.val) == 1797 and len(data.val) == 899


# --- tensor batches -----------------------------------------------------------------------

def test_tensor_batches_cover_the_train_split_once_per_epoch(digits):
    train, val = batches(digits, TrainConfig(batch_size=100))
    assert isinstance(train, TensorBatches)
    assert (len(train), len(val)) == (15, 4)
    for _ in range(2):
        epoch = one_epoch(train)
        assert len(epoch) == 15 and [len(x) for x, _ in epoch[:-1]] == [100] * 14
        seen = torch.cat([x for x, _ in epoch]).flatten(1)
        assert sorted(map(tuple, seen.tolist())) == \
            sorted(map(tuple, digits.tensors[0].flatten(1).tolist()))


def test_tensor_batches_reshuffle_each_epoch_and_repeat_for_the_same_generator_state(digits):
    config = TrainConfig(batch_size=64)
    generator = torch.Generator().manual_seed(7)
    train, _ = make_batches(digits, config, CPU, generator)
    state = generator.get_state()
    first, second = one_epoch(train), one_epoch(train)
    assert not torch.equal(first[0][1], second[0][1])
    generator.set_state(state)  # as a resumed run restores it from a checkpoint
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for a, b in zip(first, one_epoch(train)))


def test_tensor_batches_drop_last(digits):
    train, val = batches(digits, TrainConfig(batch_size=100, drop_last=True))
    assert len(train) == 14 and all(len(x) == 100 for x, _ in train)
    assert len(val) == 4 and sum(len(x) for x, _ in val) == 360  # validation never drops


def test_val_batches_are_in_order(digits):
    _, val = batches(digits, TrainConfig(batch_size=50))
    assert torch.equal(torch.cat([y for _, y in val]), digits.tensors[3])


# --- DataLoader batches -------------------------------------------------------------------

def test_dataloader_path_on_digits(digits):
    train, val = batches(digits, TrainConfig(loader="dataloader", batch_size=100))
    assert isinstance(train, LoaderBatches) and (len(train), len(val)) == (15, 4)
    epoch = one_epoch(train)
    x, y = epoch[0]
    assert x.shape == (100, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert sum(len(y) for _, y in epoch) == 1437
    assert torch.equal(torch.cat([y for _, y in epoch]).sort().values,
                       digits.tensors[1].sort().values)
    assert torch.equal(torch.cat([y for _, y in val]), digits.tensors[3])


def test_dataloader_path_is_deterministic_and_leaves_the_global_rng_alone(digits):
    config = TrainConfig(loader="dataloader", batch_size=128)
    torch.manual_seed(3)
    global_state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(5)
    train, val = make_batches(digits, config, CPU, generator)
    state = generator.get_state()
    first, _ = one_epoch(train), one_epoch(val)
    second = one_epoch(train)
    assert not torch.equal(first[0][1], second[0][1])
    generator.set_state(state)
    fresh, _ = make_batches(digits, config, CPU, generator)  # a resumed run builds anew
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, one_epoch(fresh)))
    assert torch.equal(torch.get_rng_state(), global_state)


def test_dataloader_workers_resume_exactly(digits):
    """Persistent workers draw their seed only on the first epoch; batches must not care."""
    config = TrainConfig(loader="dataloader", batch_size=256, num_workers=1)
    generator = torch.Generator().manual_seed(11)
    train, _ = make_batches(digits, config, CPU, generator)
    one_epoch(train)
    state = generator.get_state()
    unbroken = one_epoch(train)
    generator.set_state(state)
    resumed, _ = make_batches(digits, config, CPU, generator)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(unbroken, one_epoch(resumed)))


def test_tensor_loader_needs_tensors():
    data = load_data(TrainConfig(dataset="fake"))
    with pytest.raises(DataError, match="loader=auto or loader=dataloader"):
        batches(data, TrainConfig(dataset="fake", loader="tensor"))


def test_batch_size_larger_than_the_train_split(digits):
    with pytest.raises(ConfigError, match=r"batch_size: 2000 is larger than the digits training "
                                          r"split \(1437 samples") as raised:
        batches(digits, TrainConfig(batch_size=2000))
    assert raised.value.exit_code == 2   # a setting to change, as everywhere else


# --- torchvision datasets -----------------------------------------------------------------

def write_idx(path, array, magic):
    """An uncompressed IDX file as MNIST ships it: big-endian magic and dims, then uint8."""
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def write_mnist(root, n=200, folder="MNIST"):
    """MNIST's four IDX files under root/<folder>/raw (FashionMNIST keeps the same files)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    # torchvision checks that the t10k files exist even when it reads only the train set.
    for prefix, count in (("train", n), ("t10k", 20)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, (count, 28, 28)), 2051)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10, 2049)


def test_mnist_from_real_idx_files(tmp_path):
    write_mnist(tmp_path)
    data = load_data(TrainConfig(dataset="mnist", data_dir=str(tmp_path)))
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert (len(data.train), len(data.val)) == (160, 40)
    x_train, y_train, _, _ = data.tensors
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert abs(x_train.mean().item()) < 2  # standardised, not 0..255
    train, _ = batches(data, TrainConfig(dataset="mnist", batch_size=32))
    assert next(iter(train))[0].shape == (32, 1, 28, 28)


# What torchvision's CIFAR classes read: (folder, training files, test files, meta file, the
# meta file's key for the class names, the key of the labels, classes).
CIFAR = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                     ["test_batch"], "batches.meta", "label_names", "labels", 10),
         "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_label_names",
                      "fine_labels", 100)}


def write_cifar(root, dataset, per_file=10):
    """CIFAR-10 or -100 as its archive unpacks: pickled dicts of uint8 rows (3x32x32, the red,
    green and blue planes) and labels, and a meta file naming the classes. Returns the folder."""
    name, train, test, meta, names_key, labels_key, classes = CIFAR[dataset]
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for file in train + test:
        entry = {"data": rng.integers(0, 256, (per_file, 3 * 32 * 32), dtype=np.uint8),
                 labels_key: [int(label) for label in rng.integers(0, classes, per_file)]}
        (folder / file).write_bytes(pickle.dumps(entry))
    (folder / meta).write_bytes(pickle.dumps({names_key: [f"class{i}" for i in range(classes)]}))
    return folder


def accept_written_cifar(monkeypatch, dataset, folder):
    """torchvision checks each CIFAR file against the md5 of the real archive's: give it the
    md5s of the files written here, so that its integrity check still runs on them."""
    import torchvision

    cls = getattr(torchvision.datasets, {"cifar10": "CIFAR10", "cifar100": "CIFAR100"}[dataset])
    md5 = lambda file: hashlib.md5((folder / file).read_bytes()).hexdigest()  # noqa: E731
    for files in ("train_list", "test_list"):
        monkeypatch.setattr(cls, files, [[file, md5(file)] for file, _ in getattr(cls, files)])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(cls.meta["filename"])})


def train_one_step(tmp_path, *settings):
    """`sweep train` for one epoch of one optimizer step (the batch is the whole training
    split); returns its report and its last checkpoint."""
    out = tmp_path / "out"
    report = sweep_json("train", "--set", "epochs=1", "--set", "evaluations_per_epoch=1",
                        "--set", "noise_scale_every=0",
                        *[arg for setting in settings for arg in ("--set", setting)],
                        "--out", out)
    assert report["status"] == "completed" and report["epochs_run"] == 1
    return report, load_checkpoint(out / "last.pt")


@pytest.mark.parametrize("dataset, shape, classes, train_size", [
    ("fashion_mnist", [1, 28, 28], 10, 160), ("cifar10", [3, 32, 32], 10, 40),
    ("cifar100", [3, 32, 32], 100, 8)])
def test_torchvision_datasets_load_their_own_files_and_train(tmp_path, monkeypatch, dataset,
                                                              shape, classes, train_size):
    """From files in torchvision's layout under data_dir, never downloaded: MNIST's IDX files,
    CIFAR's pickles (whose md5s torchvision is told; see accept_written_cifar)."""
    if dataset == "fashion_mnist":
        write_mnist(tmp_path, folder="FashionMNIST")
    else:
        accept_written_cifar(monkeypatch, dataset, write_cifar(tmp_path, dataset))
    report, checkpoint = train_one_step(
        tmp_path, f"dataset={dataset}", f"data_dir={tmp_path}", "download=false", "model=mlp",
        "width=8", f"batch_size={train_size}")
    assert (checkpoint["input_shape"], checkpoint["num_classes"]) == (shape, classes)
    final = report["final"]
    assert (final["steps"], final["samples_seen"]) == (1, train_size)
    assert math.isfinite(final["train_loss"]) and math.isfinite(final["val_loss"])


def test_resnet18_trains_a_step(tmp_path):
    """On 24 grey 8x8 images: one step reaches every one of its parameters (SGD's momentum
    buffer is there, and not zero, for each) and its batch norms' running statistics."""
    write_pngs(tmp_path / "images")
    report, checkpoint = train_one_step(
        tmp_path, f"dataset=imagefolder:{tmp_path / 'images'}", "model=resnet18",
        "batch_size=24", "optimizer=sgd", "momentum=0.9")
    assert report["final"]["steps"] == 1 and math.isfinite(report["final"]["train_loss"])
    model, optimizer = checkpoint["model"], checkpoint["optimizer"]
    assert model["conv1.weight"].shape == (64, 1, 3, 3) and model["fc.weight"].shape == (3, 512)
    buffers = optimizer["state"]
    assert len(buffers) == len(optimizer["param_groups"][0]["params"]) == 62
    assert all(state["momentum_buffer"].abs().sum() > 0 for state in buffers.values())
    assert all(model[key].abs().sum() > 0 for key in model if key.endswith("running_mean"))


def test_missing_mnist_files_say_where_and_what_to_do(tmp_path):
    with pytest.raises(DataError) as error:
        load_data(TrainConfig(dataset="mnist", data_dir=str(tmp_path)))
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "download=true" in message
    assert "\n" not in message


def test_fake_dataset():
    data = load_data(TrainConfig(dataset="fake"))
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10 and data.tensors is None
    assert (len(data.train), len(data.val)) == (1600, 400)
    x, y = data.train[0]
    again, _ = load_data(TrainConfig(dataset="fake")).train[0]
    assert x.shape == (3, 32, 32) and isinstance(y, int) and torch.equal(x, again)


# --- image folders ------------------------------------------------------------------------

def write_pngs(folder, classes=("cat", "dog", "emu"), per_class=10, size=(8, 8), mode="L"):
    rng = np.random.default_rng(0)
    channels = {"L": (), "RGB": (3,)}[mode]
    for name in classes:
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)
            Image.fromarray(pixels, mode=mode).save(folder / name / f"{i}.png")


def test_imagefolder_split_by_seed(tmp_path):
    write_pngs(tmp_path)
    config = TrainConfig(dataset=f"imagefolder:{tmp_path}", batch_size=8)
    data = load_data(config)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 3 and data.tensors is None
    assert (len(data.train), len(data.val)) == (24, 6)
    train, val = batches(data, config)
    epoch = one_epoch(train)
    assert len(epoch) == len(train) == 3 and epoch[0][0].shape == (8, 1, 8, 8)
    assert sorted(torch.cat([y for _, y in epoch]).tolist()) == \
        sorted(data.train[i][1] for i in range(24))
    assert sum(len(y) for _, y in val) == 6


def test_imagefolder_train_and_val_folders(tmp_path):
    write_pngs(tmp_path / "train", classes=("a", "b"), mode="RGB")
    write_pngs(tmp_path / "val", classes=("a", "b"), per_class=3, mode="RGB")
    config = TrainConfig(dataset=f"imagefolder:{tmp_path}", batch_size=4)
    data = load_data(config)
    assert data.input_shape == (3, 8, 8) and data.num_classes == 2
    assert (len(data.train), len(data.val)) == (20, 6)
    train, val = batches(data, config)
    assert sum(len(y) for _, y in train) == 20 and sum(len(y) for _, y in val) == 6


def test_imagefolder_converts_to_the_first_images_channels_and_size(tmp_path):
    tree = tmp_path / "tree"
    write_pngs(tree, classes=("x",), per_class=1, size=(8, 8), mode="L")
    write_pngs(tree, classes=("y",), per_class=3, size=(12, 10), mode="RGB")
    data = load_data(TrainConfig(dataset=f"imagefolder:{tree}", val_fraction=0.25))
    assert data.input_shape == (1, 8, 8)
    assert all(data.train[i][0].shape == (1, 8, 8) for i in range(len(data.train)))


def test_imagefolder_missing_or_empty(tmp_path):
    with pytest.raises(DataError, match=r"not a folder; expected .*/<class>/<image>\.png"):
        load_data(TrainConfig(dataset=f"imagefolder:{tmp_path / 'nope'}"))
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no images found in .*empty"):
        load_data(TrainConfig(dataset=f"imagefolder:{tmp_path / 'empty'}"))


# --- a user's own factory -----------------------------------------------------------------

def test_user_factory(tmp_path, monkeypatch):
    (tmp_path / "my_data.py").write_text(textwrap.dedent("""
        import torch
        from torch.utils.data import TensorDataset

        def build(config):
            g = torch.Generator().manual_seed(config.seed)
            make = lambda n: TensorDataset(torch.rand(n, 2, 5, 5, generator=g),
                                           torch.randint(0, 4, (n,), generator=g))
            return make(40), make(10), 4
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = TrainConfig(dataset="my_data:build", batch_size=16)
    data = load_data(config)
    assert data.input_shape == (2, 5, 5) and data.num_classes == 4 and data.tensors is None
    train, val = batches(data, config)
    assert (len(train), len(val)) == (3, 1)
    assert next(iter(train))[0].shape == (16, 2, 5, 5)


def test_user_factory_errors(tmp_path, monkeypatch):
    (tmp_path / "my_other_data.py").write_text("def build(config):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DataError, match="cannot import no_such_module"):
        load_data(TrainConfig(dataset="no_such_module:build"))
    with pytest.raises(DataError, match="has no function missing"):
        load_data(TrainConfig(dataset="my_other_data:missing"))
    with pytest.raises(DataError, match=r"must return \(train_dataset, val_dataset, num_classes\)"):
        load_data(TrainConfig(dataset="my_other_data:build"))


def test_digits_load_without_importing_scikit_learn():
    """Each worker process loads digits; importing scikit-learn would cost it over a second."""
    code = ("import sys; from torchsweep.trainer.config import TrainConfig; from torchsweep.trainer.data import load_data;"
            "load_data(TrainConfig()); print('sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
