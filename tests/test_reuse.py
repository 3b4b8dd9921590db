"""Encoders trained once and reused: `isogen train --from RUN` trains only a decoder (and its samplers) on RUN's
frozen encoder, from codes computed once and cached beside it."""
import json

import pytest
import torch

from isogen.cli import config_from_source, main
from isogen.codes import CODES, encoder_digest
from isogen.models.encoders import CNNEncoder
from isogen.runs import load_checkpoint, load_run
from isogen.train import train

SMOKE = ["--no-progress"]


@pytest.fixture(scope="module")
def source(tmp_path_factory, mnist):
    """A two-stage smoke run: sigreg-sphere's encoder alone for 2 epochs, then its deconv decoder for 1."""
    folder = tmp_path_factory.mktemp("reuse") / "source"
    assert main(["train", "--preset", "smoke", "--run-dir", str(folder), "decoder_epochs=1", *SMOKE]) == 0
    return folder


def test_two_decoders_share_one_encoder_trained_once_and_never_run_it(source, tmp_path, monkeypatch, mnist):
    assert (source / CODES).exists()  # the decoder stage cached the encoder's codes
    calls = []
    monkeypatch.setattr(CNNEncoder, "forward", lambda self, x: calls.append(x) or pytest.fail("encoder ran"))
    for name, overrides in [("deconv", {"decoder_width": "24"}), ("flow", {"decoder": "flow", "flow_steps": "2"})]:
        run = tmp_path / name
        config = config_from_source(source, run, {"decoder_epochs": "2", **overrides}, "")
        train(config, run, progress=False, data=mnist, pictures=False)  # training and fitting the samplers
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in log] == [3, 4] and all(r["stage"] == "decoder" for r in log)
    assert calls == []
    monkeypatch.undo()
    trained = load_checkpoint(source)["model"]
    _, _, reference = load_run(source)
    for name in ("deconv", "flow"):
        config, _, model = load_run(tmp_path / name)
        assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items() if k.startswith("encoder."))
        environment = json.loads((tmp_path / name / "environment.json").read_text())
        assert environment["encoder"] == {"run": config.encoder_from, "encoder_sha256": encoder_digest(reference)}
        assert (tmp_path / name / config.encoder_from).resolve() == source.resolve()  # relative to the run
        assert (tmp_path / name / "samplers.pt").exists()


def test_only_the_decoders_keys_may_change(source, tmp_path, capsys):
    assert main(["train", "--from", str(source), "--run-dir", str(tmp_path / "x"), "lr=0.1", "decoder_epochs=1"]) == 2
    assert "['lr'] cannot change" in capsys.readouterr().err
    assert main(["train", "--from", str(tmp_path / "nothing"), "--run-dir", str(tmp_path / "y")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_recompute_batchnorm_sets_the_clean_images_moments(mnist):
    """Against an independent computation: the mean over equal batches of each batch's feature mean and
    unbiased variance at the BatchNorm's input, in float64."""
    from isogen.codes import recompute_batchnorm
    from isogen.config import make_config
    from isogen.data import as_float
    from isogen.engine import new_model
    from isogen.methods import make_method

    torch.manual_seed(0)
    model = new_model(make_method(make_config("smoke")), torch.device("cpu"))
    norm = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d))
    images = mnist.train_images[:600]
    inputs = []
    hook = norm.register_forward_hook(lambda module, args, out: inputs.append(args[0].double()))
    model.eval()
    with torch.no_grad():
        for i in range(0, 600, 200):
            model.encoder(as_float(images[i:i + 200]))
    hook.remove()
    recompute_batchnorm(model, images, batch_size=200)
    assert not model.encoder.training and norm.momentum == 0.1  # its mode and momentum restored
    expected_mean = torch.stack([h.mean(0) for h in inputs]).mean(0)
    expected_var = torch.stack([h.var(0, unbiased=True) for h in inputs]).mean(0)
    torch.testing.assert_close(norm.running_mean.double(), expected_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.running_var.double(), expected_var, rtol=1e-4, atol=1e-6)
    # the codes of those images under the new moments are what training mode gives one batch of all of them
    with torch.no_grad():
        fixed = model.encode(as_float(images))
        model.encoder.train()
        batch = model.encode(as_float(images))
        model.encoder.eval()
    assert torch.nn.functional.cosine_similarity(fixed, batch).min() > 0.99


def test_bn_recompute_runs_when_the_encoders_stage_ends(source, tmp_path, mnist):
    from isogen.codes import recompute_batchnorm

    run = tmp_path / "recomputed"
    assert main(["train", "--preset", "smoke", "--run-dir", str(run), "decoder_epochs=1", "bn_recompute=true",
                 *SMOKE]) == 0
    config, _, model = load_run(run)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    recompute_batchnorm(model, mnist.training_split(config.train_subset)[0])  # again: nothing moves
    for key, value in model.encoder.state_dict().items():
        torch.testing.assert_close(value, before[key], msg=key)
    plain = load_checkpoint(source)["model"]  # the same run without it: other moments, same weights
    assert not torch.allclose(plain["encoder.8.running_mean"], before["8.running_mean"])
    assert torch.equal(plain["encoder.0.weight"], before["0.weight"])
