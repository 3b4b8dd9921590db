"""Small end-to-end runs on a real subset of MNIST."""
import math

import pytest
import torch

import isogen.train as train_module
from isogen.config import make_config
from isogen.errors import IsogenError
from isogen.files import read_jsonl
from isogen.runs import load_checkpoint, load_run
from isogen.train import train

TIMING = {"seconds", "images_per_s"}


def smoke(**overrides):
    return make_config("smoke", {k: str(v) for k, v in overrides.items()})


def without_timing(log):
    return [{k: v for k, v in record.items() if k not in TIMING} for record in log]


def test_training_writes_a_complete_run_folder(tmp_path, mnist):
    last = train(smoke(epochs=3), tmp_path / "run", progress=False, data=mnist)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    expected = {"config.json", "environment.json", "log.jsonl", "checkpoint.pt", "samples.png", "interpolations.png"}
    assert expected <= names
    log = read_jsonl(tmp_path / "run" / "log.jsonl")
    assert [r["epoch"] for r in log] == [1, 2, 3] and log[-1] == last
    assert log[-1]["recon_bce"] < log[0]["recon_bce"]  # the decoder learns
    assert log[-1]["loss"] < log[0]["loss"]
    config, method, model = load_run(tmp_path / "run")
    assert config.epochs == 3 and not model.training


def test_cpu_runs_repeat_bitwise_and_resume_matches_an_unbroken_run(tmp_path, mnist, monkeypatch):
    config = smoke(epochs=3)
    train(config, tmp_path / "unbroken", progress=False, data=mnist, pictures=False)

    calls = []

    def die_after_the_second_checkpoint(path, records):  # the log follows the checkpoint of each epoch
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed between epochs 2 and 3
        write_jsonl(path, records)

    write_jsonl = train_module.write_jsonl
    monkeypatch.setattr(train_module, "write_jsonl", die_after_the_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "broken", progress=False, data=mnist, pictures=False)
    monkeypatch.setattr(train_module, "write_jsonl", write_jsonl)
    assert load_checkpoint(tmp_path / "broken")["epoch"] == 2
    train(config, tmp_path / "broken", resume=True, progress=False, data=mnist, pictures=False)

    a, b = load_checkpoint(tmp_path / "unbroken"), load_checkpoint(tmp_path / "broken")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert without_timing(read_jsonl(tmp_path / "unbroken" / "log.jsonl")) == \
        without_timing(read_jsonl(tmp_path / "broken" / "log.jsonl"))


def test_run_folder_protects_its_contents(tmp_path, mnist):
    run = tmp_path / "run"
    train(smoke(epochs=1), run, progress=False, data=mnist, pictures=False)
    before = (run / "checkpoint.pt").read_bytes()
    with pytest.raises(IsogenError, match="pass --resume"):
        train(smoke(epochs=1), run, progress=False, data=mnist)
    with pytest.raises(IsogenError, match=r"differs in \['lr'\]"):
        train(smoke(epochs=1, lr=1e-4), run, resume=True, progress=False, data=mnist)
    assert (run / "checkpoint.pt").read_bytes() == before
    with pytest.raises(IsogenError, match="batch_size=2048 exceeds"):
        train(smoke(batch_size=2048), tmp_path / "other", progress=False, data=mnist)
    assert not (tmp_path / "other").exists()


def test_non_finite_loss_stops_with_the_term_and_keeps_the_checkpoint(tmp_path, mnist, poison_infonce):
    run = tmp_path / "run"
    poison_infonce(10, math.nan)  # step 10: the third step of epoch 2 (8 steps per epoch)
    with pytest.raises(train_module.NonFiniteLoss, match=r"term 'infonce' = nan at step 10 \(epoch 2\).*epoch 1"):
        train(smoke(epochs=3), run, progress=False, data=mnist)
    assert load_checkpoint(run)["epoch"] == 1
    assert len(read_jsonl(run / "log.jsonl")) == 1  # nothing of the bad epoch was saved


def test_samplers_are_fitted_once_saved_and_loaded_by_later_commands(tmp_path, mnist, monkeypatch):
    import isogen.sample as sample_module
    from isogen.codes import encode_images
    from isogen.sample import fit_samplers, run_samplers

    run = tmp_path / "run"
    train(smoke(epochs=1, method="ae-gmm", gmm_components=3), run, progress=False, data=mnist, pictures=False)
    saved = torch.load(run / "samplers.pt", weights_only=True)
    assert set(saved) == {"matched", "gmm"} and saved["gmm"]["means"].shape == (3, 16)

    config, method, model = load_run(run)
    refit = fit_samplers(method, encode_images(model, mnist.training_split(config.train_subset)[0]))

    def no_refit(*args):
        raise AssertionError("the saved samplers should have been loaded")

    monkeypatch.setattr(sample_module, "fit_samplers", no_refit)
    loaded = run_samplers(run, method, model, mnist)
    for name in ("matched", "gmm"):
        draw = lambda s: s.sample(20, torch.Generator().manual_seed(1))  # noqa: E731
        assert torch.equal(draw(loaded[name]), draw(refit[name])), name  # saved = fitted on the same codes


@pytest.mark.parametrize("method", ["sigreg-sphere", "vae"])
def test_the_decoder_stage_trains_the_decoder_alone_on_the_frozen_encoder(tmp_path, mnist, method, monkeypatch):
    train(smoke(method=method, epochs=2), tmp_path / "one", progress=False, data=mnist, pictures=False)
    saved = {}
    original = train_module.Run.stage_engine

    def keep_the_encoder_stage(run):  # the weights at the stage boundary
        if run.epoch == 2:
            saved.update({k: v.clone() for k, v in run.model.state_dict().items()})
        return original(run)

    monkeypatch.setattr(train_module.Run, "stage_engine", keep_the_encoder_stage)
    train(smoke(method=method, epochs=2, decoder_epochs=2), tmp_path / "two", progress=False, data=mnist,
          pictures=False)
    one, two = load_checkpoint(tmp_path / "one")["model"], load_checkpoint(tmp_path / "two")["model"]
    encoder = [k for k in one if k.startswith("encoder.")]
    assert encoder and all(torch.equal(saved[k], two[k]) for k in encoder)  # frozen: weights and BatchNorm moments
    parameters = {k for k, _ in train_module.make_method(smoke(method=method)).build_model().named_parameters()}
    # the encoder's training is the one-stage run's: the decoder never shaped it (a contrastive one-stage run's
    # decoder encodes clean images in train mode, which moves only BatchNorm's running moments)
    assert all(torch.equal(one[k], two[k]) for k in encoder if k in parameters)
    assert any(not torch.equal(one[k], two[k]) for k in one if k.startswith("decoder."))
    log_one, log_two = read_jsonl(tmp_path / "one" / "log.jsonl"), read_jsonl(tmp_path / "two" / "log.jsonl")
    encoder_terms = {"infonce", "sigreg"} if method == "sigreg-sphere" else set(log_one[0]) - TIMING
    assert [{k: r[k] for k in encoder_terms} for r in log_two[:2]] == [{k: r[k] for k in encoder_terms}
                                                                       for r in log_one]
    if method == "sigreg-sphere":  # a contrastive encoder trains alone in a two-stage run
        assert "recon_bce" not in log_two[0]
    assert [r.get("stage") for r in log_two] == [None, None, "decoder", "decoder"]
    assert set(log_two[2]) - TIMING == {"epoch", "step", "stage", "lr", "loss", "recon_bce"}  # the decoder's term
    assert log_two[-1]["recon_bce"] < log_two[2]["recon_bce"]
    if method == "vae":  # its decoder stage drew from the training images' posteriors, cached beside their means
        codes = torch.load(tmp_path / "two" / "codes.pt", weights_only=True)
        assert torch.equal(codes["train_posterior"][:, :codes["train"].shape[1]], codes["train"])


@pytest.mark.parametrize("killed_after", [2, 3])  # at the end of the encoder's stage; inside the decoder's
def test_a_two_stage_run_resumes_bit_for_bit(tmp_path, mnist, monkeypatch, killed_after):
    config = smoke(epochs=2, decoder_epochs=2)
    train(config, tmp_path / "unbroken", progress=False, data=mnist, pictures=False)
    calls, write_jsonl = [], train_module.write_jsonl

    def die(path, records):
        calls.append(path)
        write_jsonl(path, records)
        if len(calls) == killed_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "write_jsonl", die)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "broken", progress=False, data=mnist, pictures=False)
    monkeypatch.setattr(train_module, "write_jsonl", write_jsonl)
    assert load_checkpoint(tmp_path / "broken")["epoch"] == killed_after
    train(config, tmp_path / "broken", resume=True, progress=False, data=mnist, pictures=False)
    a, b = load_checkpoint(tmp_path / "unbroken"), load_checkpoint(tmp_path / "broken")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert without_timing(a["log"]) == without_timing(b["log"]) and b["stage"] == "decoder"
