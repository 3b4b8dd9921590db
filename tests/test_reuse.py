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
