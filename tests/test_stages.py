"""The stages of a run: the encoder's (with or without its decoder beside) and the decoder's alone on cached codes."""
import pytest
import torch

from isogen.config import make_config
from isogen.methods import make_method
from isogen.stages import DecoderStage, EncoderStage


def build(name, **overrides):
    config = make_config("smoke", {"method": name, **{k: str(v) for k, v in overrides.items()}})
    method = make_method(config)
    return method, method.build_model()


def one_step(stage, model, n):
    return {k: v[0] for k, v in stage.noise(model, 1, n, torch.Generator().manual_seed(0)).items()}


@pytest.mark.parametrize("decoder", ["deconv", "flow"])
def test_a_two_stage_contrastive_encoder_trains_alone(decoder):
    method, model = build("sigreg-sphere", decoder=decoder, decoder_epochs=2)
    stage = EncoderStage(method)
    noise = one_step(stage, model, 8)
    assert set(noise) == {"views", "slices"}  # no decoder randomness is drawn
    terms = stage.loss(model, torch.rand(8, 1, 28, 28), torch.arange(8), noise)
    assert list(terms) == ["infonce", "sigreg"]
    stage.total(terms).backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert stage.trained(model) is model.encoder


def test_a_one_stage_contrastive_run_trains_its_decoder_beside_the_encoder():
    method, model = build("sigreg-sphere")
    stage = EncoderStage(method)
    terms = stage.loss(model, torch.rand(8, 1, 28, 28), torch.arange(8), one_step(stage, model, 8))
    assert list(terms) == ["infonce", "sigreg", "recon_bce"] and stage.trained(model) is model


def test_an_autoencoder_trains_its_decoder_in_the_encoder_stage_either_way():
    method, model = build("vae", decoder_epochs=2)
    stage = EncoderStage(method)
    terms = stage.loss(model, torch.rand(8, 1, 28, 28), torch.arange(8), one_step(stage, model, 8))
    assert "recon_bce" in terms and stage.trained(model) is model


@pytest.mark.parametrize("decoder", ["deconv", "flow"])
@pytest.mark.parametrize("name", ["sigreg-sphere", "vae", "hs-vae"])
def test_the_decoder_stage_decodes_cached_codes_by_index_and_never_runs_the_encoder(name, decoder, monkeypatch):
    method, model = build(name, decoder=decoder, decoder_epochs=1)
    codes = model.geometry.prior(32, 16, torch.Generator().manual_seed(0), torch.float32)  # (n_train, D)
    stage = DecoderStage(method, codes)
    stage.start_epoch(model, 2)
    assert model.decoder.training and not model.encoder.training  # BatchNorm keeps its moments
    noise = one_step(stage, model, 8)
    assert set(noise) == set(model.decoder.noise(1, 8, torch.Generator()))  # no views, no slices
    seen = []
    monkeypatch.setattr(model.decoder, "loss", lambda z, x, noise: seen.append(z) or {"term": z.sum()})
    monkeypatch.setattr(model.encoder, "forward", lambda x: pytest.fail("the decoder stage ran the encoder"))
    index = torch.tensor([5, 0, 31, 7, 7, 2, 9, 11])
    stage.loss(model, torch.rand(8, 1, 28, 28), index, noise)
    assert torch.equal(seen[0], codes[index])
    assert stage.trained(model) is model.decoder and (stage.first_epoch, stage.epochs) == (2, 1)
