"""Bad input through the command line: one clear error line, exit code 2, nothing existing modified."""
import errno
import gzip
import math
import os
import shutil
import struct

import numpy as np
import pytest
import torch

from isogen.cli import main
from isogen.files import read_json, write_json

SMOKE = ["--preset", "smoke", "--no-progress"]


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}


def expect_error(faults, fault, argv, capsys, message, watch):
    before = snapshot(watch)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    after = snapshot(watch)
    lost = sum(1 for k in before if after.get(k) != before[k])
    survived = code == 2 and err.startswith("isogen: error:") and "\n" not in err and message in err and lost == 0
    faults.record(fault, survived, lost)
    assert survived, (code, err)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *SMOKE, "--run-dir", str(run), "epochs=1"]) == 0
    return run


def idx_bytes(array):
    return struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def data_folder(tmp_path, mnist, damage):
    """A folder of the four MNIST IDX files, one of them damaged by `damage(name, raw_bytes)`."""
    folder = tmp_path / "data"
    folder.mkdir()
    arrays = {"train-images-idx3-ubyte": mnist.train_images, "train-labels-idx1-ubyte": mnist.train_labels,
              "t10k-images-idx3-ubyte": mnist.test_images, "t10k-labels-idx1-ubyte": mnist.test_labels}
    for name, tensor in arrays.items():
        raw = idx_bytes(tensor.numpy().astype(np.uint8))
        (folder / f"{name}.gz").write_bytes(damage(name, gzip.compress(raw, compresslevel=1)))
    return folder


@pytest.mark.parametrize("fault, damage, message", [
    ("truncated gzip", lambda n, raw: raw[: len(raw) // 3] if n.startswith("t10k-labels") else raw, "corrupt"),
    ("wrong IDX magic", lambda n, raw: gzip.compress(b"\x00\x00\x0c\x03" + gzip.decompress(raw)[4:])
     if n.startswith("t10k-images") else raw, "not an IDX"),
    ("wrong shapes", lambda n, raw: gzip.compress(idx_bytes(np.zeros((100, 28, 28), np.uint8)))
     if n.startswith("train-images") else raw, "has shape (100, 28, 28)"),
])
def test_damaged_data(tmp_path, mnist, capsys, faults, fault, damage, message):
    folder = data_folder(tmp_path, mnist, damage)
    expect_error(faults, f"data: {fault}", ["train", *SMOKE, "--run-dir", tmp_path / "run", f"data_dir={folder}"],
                 capsys, message, folder)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("method=simclr", "valid methods: infonce"), ("encoder=vit", "valid encoders: cnn, resnet"),
    ("sigreg_weight=-0.1", "sigreg_weight"), ("temperature=0", "temperature"), ("embed_dim=2", "embed_dim"),
    ("batch_size=5000", "exceeds the 1024 training images"), ("lr=fast", "needs a float"),
    ("lamda=1", "unknown config key"),
])
def test_bad_config(tmp_path, capsys, faults, override, message):
    expect_error(faults, f"config: {override}", ["train", *SMOKE, "--run-dir", tmp_path / "run", override],
                 capsys, message, tmp_path)
    assert not (tmp_path / "run").exists()


def test_configuration_too_large_for_memory(tmp_path, capsys, faults, monkeypatch):
    import isogen.memory

    monkeypatch.setattr(isogen.memory, "free_bytes", lambda device: 24 * 2**30)  # the CI machine's RAM
    expect_error(faults, "config: embed_dim=100000 (needs ~33 GiB)",
                 ["train", "--preset", "full", "--no-progress", "--run-dir", tmp_path / "run", "embed_dim=100000"],
                 capsys, "embed_dim=100000, batch_size=512 needs about", tmp_path)
    assert not (tmp_path / "run").exists()


def test_unknown_preset(tmp_path, capsys, faults):
    expect_error(faults, "config: unknown preset", ["train", "--preset", "tiny", "--run-dir", tmp_path / "r"],
                 capsys, "valid presets: quick, full, smoke", tmp_path)


def test_run_folder_of_a_foreign_config(tmp_path, trained, capsys, faults):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    write_json(run / "config.json", {**read_json(run / "config.json"), "momentum": 0.9})
    expect_error(faults, "run folder from a foreign config", ["train", "--resume", "--run-dir", run], capsys,
                 "unknown keys ['momentum']", run)


def test_resume_with_another_config(tmp_path, trained, capsys, faults):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    expect_error(faults, "resume with a different config", ["train", *SMOKE, "--resume", "--run-dir", run,
                                                            "epochs=1", "lr=0.1"], capsys, "differs in ['lr']", run)


def test_checkpoint_of_another_model(tmp_path, trained, capsys, faults):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    checkpoint["config"]["embed_dim"] = 24
    torch.save(checkpoint, run / "checkpoint.pt")
    expect_error(faults, "checkpoint of another model", ["sample", run], capsys, "do not fit", run)


def test_truncated_checkpoint(tmp_path, trained, capsys, faults):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    raw = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(raw[: len(raw) // 2])
    expect_error(faults, "truncated checkpoint", ["sample", run], capsys, "corrupt", run)


def test_unwritable_output_directory(tmp_path, capsys, faults):
    # /proc refuses new folders even to root, unlike a chmod'ed directory
    expect_error(faults, "unwritable output directory", ["train", *SMOKE, "--run-dir", "/proc/isogen-run"], capsys,
                 "cannot create /proc/isogen-run", tmp_path)


def test_disk_full_during_checkpoint(tmp_path, capsys, faults, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    run = tmp_path / "run"
    expect_error(faults, "disk full while writing", ["train", *SMOKE, "--run-dir", run, "epochs=1"], capsys,
                 "No space left on device", tmp_path / "elsewhere")
    assert not list(run.glob(".*.tmp")) and not (run / "checkpoint.pt").exists()


def test_nan_loss_keeps_the_last_good_checkpoint(tmp_path, capsys, faults, poison_infonce):
    poison_infonce(10, math.inf)
    run = tmp_path / "run"
    code = main(["train", *SMOKE, "--run-dir", str(run), "epochs=3"])
    err = capsys.readouterr().err
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    survived = (code == 2 and "term 'infonce' = inf at step 10 (epoch 2)" in err and "lower lr" in err
                and checkpoint["epoch"] == 1)
    faults.record("non-finite loss in epoch 2", survived)
    assert survived, err


@pytest.mark.parametrize("spec, message", [
    ({"name": "s", "preset": "smoke", "entries": 5}, "'entries' must be a non-empty list"),
    ({"preset": "smoke"}, "present: name and preset"),
    ({"name": "s", "preset": "smoke", "dims": ["32"]}, "'dims' must be a non-empty list of integers"),
    ({"name": "s", "preset": "smoke", "eval": {"fid": 10}}, "'eval' must be an object with keys among"),
    ({"name": "s", "preset": "smoke", "seed": [0]}, "the keys must be among"),
    ([1, 2], "a study spec must be a JSON object"),
    ({"name": "s", "preset": "smoke", "entries": [{"label": "a", "method": "gan"}]}, "unknown method 'gan'"),
    ({"name": "s", "preset": "smoke", "entries": [{"label": "a", "method": "vae", "grid": {"lamda": [1]}}]},
     "unknown config key 'lamda'"),
])
def test_malformed_study_spec(tmp_path, capsys, faults, spec, message):
    path = tmp_path / "spec.json"
    write_json(path, spec)
    expect_error(faults, f"study spec: {message}", ["study", path, "--out", tmp_path / "out"], capsys, message,
                 tmp_path)
    assert not (tmp_path / "out").exists()


def test_damaged_saved_samplers_are_fitted_again(tmp_path, trained, capsys, faults):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "samplers.pt").write_bytes(b"not a torch file")
    code = main(["sample", str(run), "--sampler", "matched", "-n", "4"])
    out = capsys.readouterr().out
    refitted = torch.load(run / "samplers.pt", weights_only=True)
    survived = code == 0 and "fitting the samplers again" in out and set(refitted) == {"prior", "matched"}
    faults.record("damaged samplers.pt", survived)
    assert survived, out
