"""What isogen explore writes, checked without a browser: the ONNX graphs run by ONNX's own reference
evaluator against PyTorch, the principal directions against an eigendecomposition, the maps, the folder."""
import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from isogen import data as data_module
from isogen.cli import main
from isogen.config import make_config
from isogen.explore import site
from isogen.explore.export import PAGE_DECODERS, encoder_graph, map_of, principal_directions
from isogen.methods import METHODS, make_method
from isogen.runs import load_run


@pytest.mark.parametrize("name", ["deconv", "flow"])
def test_onnx_graphs_compute_what_pytorch_computes(explorer, name):
    config, _, model = load_run(explorer / name)
    graphs, decoding = PAGE_DECODERS[config.decoder](model)
    graphs["encoder"] = encoder_graph(model)
    x, z, t = torch.rand(5, 1, 28, 28), torch.randn(5, config.embed_dim), torch.rand(5)  # a batch unlike the example
    expected = {"encoder": model.encode(x), "decoder": lambda: model.decoder.generate(z),
                "velocity": lambda: model.decoder.ema(x, t, z)}
    feeds = {"encoder": {"x": x}, "decoder": {"z": z}, "velocity": {"x": x, "t": t, "z": z}}
    for part, graph in graphs.items():
        onnx.checker.check_model(onnx.load_from_string(graph))
        out = ReferenceEvaluator(onnx.load_from_string(graph)).run(None, {k: v.numpy() for k, v in feeds[part].items()})
        want = expected[part]() if callable(expected[part]) else expected[part]
        np.testing.assert_allclose(out[0], want.detach().numpy(), atol=2e-5, err_msg=part)
    assert decoding["kind"] == ("flow" if name == "flow" else "mean")


def test_principal_directions_are_the_covariance_eigenvectors():
    codes = torch.randn(500, 6, dtype=torch.float64) @ torch.diag(torch.tensor([3.0, 2, 1.5, 1, 0.5, 0.2],
                                                                              dtype=torch.float64))
    mean, directions, spreads = principal_directions(codes, 3)
    values, vectors = np.linalg.eigh(np.cov(codes.numpy(), rowvar=False))  # ascending
    np.testing.assert_allclose(spreads.numpy(), np.sqrt(values[::-1][:3]), rtol=1e-10)
    np.testing.assert_allclose(np.abs((directions.numpy() * vectors[:, ::-1][:, :3].T).sum(1)), 1, atol=1e-10)
    np.testing.assert_allclose(mean.numpy(), codes.numpy().mean(0))


def test_maps_project_and_separate():
    generator = torch.Generator().manual_seed(0)
    blobs = torch.cat([torch.randn(60, 8, generator=generator) + 6 * torch.eye(8)[k] for k in range(3)])
    mean, directions, _ = principal_directions(blobs, 2)
    np.testing.assert_allclose(map_of(blobs, "pca", 0), ((blobs.double() - mean) @ directions.T).numpy(), atol=1e-5)
    tsne = map_of(blobs, "tsne", 0)
    assert tsne.shape == (180, 2) and np.array_equal(tsne, map_of(blobs, "tsne", 0))  # seeded
    centres = np.stack([tsne[60 * k:60 * (k + 1)].mean(0) for k in range(3)])
    within = max(np.linalg.norm(tsne[60 * k:60 * (k + 1)] - centres[k], axis=1).mean() for k in range(3))
    between = min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3))
    assert between > 3 * within  # three blobs stay three clusters on the map


def test_the_folder_holds_the_page_its_data_and_one_script_per_graph(explorer):
    page = explorer / "page"
    assert site.MARKER in (page / "index.html").read_text()
    assert sorted(p.name for p in (page / "models").iterdir()) == [
        "0-decoder.js", "0-encoder.js", "1-encoder.js", "1-velocity.js", "2-decoder.js", "2-encoder.js"]
    assert (page / "vendor.js").stat().st_size > 10e6  # the WebAssembly runtime is inside: no fetch at run time
    assert "http" not in (page / "index.html").read_text().replace("http-equiv", "")  # nothing from a CDN
def expect_error(capsys, argv, message):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("isogen: error:") and message in err and "\n" not in err, err


def test_bad_input_on_the_command_line(explorer, tmp_path, capsys, monkeypatch):
    study = tmp_path / "study"
    shutil.copytree(explorer / "deconv", study / "runs" / "a-d16-s0")
    expect_error(capsys, ["explore", study, "--out", tmp_path / "x"], "is a study folder, not a run")
    expect_error(capsys, ["explore", tmp_path / "nothing", "--out", tmp_path / "x"], "does not exist")
    expect_error(capsys, ["explore", tmp_path, "--out", tmp_path / "x"], "no checkpoint.pt")
    expect_error(capsys, ["explore", explorer / "deconv", "--out", tmp_path / "x", "--points", "3"], "at least 10")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    expect_error(capsys, ["explore", explorer / "deconv", "--out", precious], "is not an isogen explorer")
    assert [p.name for p in precious.iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert main(["explore", str(explorer / "deconv"), "--out", str(tmp_path / "empty"), "--points", "20"]) == 0
    monkeypatch.setenv("ISOGEN_WEB_MODULES", str(tmp_path))
    monkeypatch.setattr(site.isogen, "__file__", str(tmp_path / "a" / "b" / "c.py"))
    monkeypatch.chdir(tmp_path)
    expect_error(capsys, ["explore", explorer / "deconv", "--out", tmp_path / "x"], "make web")
    assert not (tmp_path / "x").exists()


def test_an_interrupted_export_keeps_the_previous_explorer(explorer, tmp_path, monkeypatch):
    out = tmp_path / "page"
    shutil.copytree(explorer / "page", out)
    before = (out / "data.js").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(site, "export_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        site.write_explorer([explorer / "deconv"], out, points=50)
    assert (out / "data.js").read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["page"]
    monkeypatch.undo()
    (tmp_path / ".page.killed").mkdir()  # a build left by an export killed before its swap
    site.write_explorer([explorer / "deconv"], out, points=50)  # a finished export replaces it whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page"]
    assert (out / "data.js").read_bytes() != before and not (out / "models" / "1-velocity.js").exists()


@pytest.mark.skipif(not data_module.DATASETS["fashion-mnist"].offline_folder.exists(),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_runs_carry_their_class_names_and_do_not_mix_with_mnist(explorer, tmp_path, capsys):
    fashion = tmp_path / "fashion"
    assert main(["train", "--preset", "smoke", "--run-dir", str(fashion), "--no-progress", "epochs=1",
                 "dataset=fashion-mnist"]) == 0
    expect_error(capsys, ["explore", explorer / "deconv", fashion, "--out", tmp_path / "x"],
                 "explore runs of one data set together")
    site.write_explorer([fashion], tmp_path / "page", points=20)
    data = json.loads((tmp_path / "page" / "data.js").read_text().split("=", 1)[1].rstrip(";\n"))
    assert data["classes"][9] == "Ankle boot" and data["runs"][0]["dataset"] == "fashion-mnist"


@pytest.mark.parametrize("method, encoder", [(name, "cnn") for name in METHODS] + [("sigreg-sphere", "resnet")])
def test_every_method_and_encoder_exports_its_encoder(method, encoder):
    """A VAE's page code is its posterior mean, a sphere's is normalised: the graph computes model.encode."""
    model = make_method(make_config("smoke", {"method": method, "encoder": encoder})).build_model().eval()
    graph = encoder_graph(model)
    x = torch.rand(3, 1, 28, 28)
    out = ReferenceEvaluator(onnx.load_from_string(graph)).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(out, model.encode(x).detach().numpy(), atol=2e-5)
    assert out.shape == (3, model.embed_dim)


def test_serve_answers_and_ctrl_c_ends_it_quietly(explorer, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = site.server(tmp_path, 0)  # a free port, released at once
    free = port.server_address[1]
    port.server_close()
    process = subprocess.Popen([sys.executable, "-m", "isogen", "explore", str(explorer / "deconv"), "--out",
                                str(tmp_path / "page"), "--points", "20", "--serve", str(free)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # as from a terminal: a background parent (nohup, CI) may ignore SIGINT for its
                               # children, and Python then installs no KeyboardInterrupt handler
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    page = ""
    try:
        deadline = time.monotonic() + 180  # the export, then the server: slow on a loaded machine
        while time.monotonic() < deadline and process.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{free}/index.html", timeout=1).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert site.MARKER in page
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0 and out.strip().endswith("stopped serving") and "Traceback" not in err
