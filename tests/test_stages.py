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


INDEX = torch.tensor([5, 0, 31, 7, 7, 2, 9, 11])  # the images of one step, 7 twice


def decoded_by_stage(name, decoder, codes, monkeypatch):
    """One decoder-stage step of `name` on the images at INDEX: the codes it hands its decoder, the names of the
    method's own randomness in the step, and the step's noise."""
    method, model = build(name, decoder=decoder, decoder_epochs=1)
    stage = DecoderStage(method, codes)
    stage.start_epoch(model, 2)
    assert model.decoder.training and not model.encoder.training  # BatchNorm keeps its moments
    assert stage.trained(model) is model.decoder and (stage.first_epoch, stage.epochs) == (2, 1)
    noise = one_step(stage, model, len(INDEX))
    seen = []
    monkeypatch.setattr(model.decoder, "loss", lambda z, x, noise: seen.append(z) or {"term": z.sum()})
    monkeypatch.setattr(model.encoder, "forward", lambda x: pytest.fail("the decoder stage ran the encoder"))
    stage.loss(model, torch.rand(len(INDEX), 1, 28, 28), INDEX, noise)
    return seen[0], set(noise) - set(model.decoder.noise(1, len(INDEX), torch.Generator())), noise


@pytest.mark.parametrize("name, decoder", [("sigreg-sphere", "deconv"), ("sigreg-sphere", "flow"), ("ae-gmm", "deconv"),
                                           ("ae-gmm", "flow"), ("sphere-ae", "deconv")])  # its jitter stays in stage 1
def test_the_decoder_stage_decodes_cached_codes_by_index_and_never_runs_the_encoder(name, decoder, monkeypatch):
    codes = torch.randn(32, 16, generator=torch.Generator().manual_seed(0))  # (n_train, D)
    decoded, method_noise, _ = decoded_by_stage(name, decoder, codes, monkeypatch)
    assert torch.equal(decoded, codes[INDEX]) and not method_noise  # no views, no slices


@pytest.mark.parametrize("decoder", ["deconv", "flow"])
@pytest.mark.parametrize("name", ["vae", "beta-vae", "hs-vae"])
def test_a_posterior_methods_decoder_stage_decodes_a_fresh_draw_of_each_posterior(name, decoder, monkeypatch):
    posteriors = torch.randn(32, 2 * 16, generator=torch.Generator().manual_seed(0))  # (n_train, 2D): means, log-vars
    decoded, method_noise, noise = decoded_by_stage(name, decoder, posteriors, monkeypatch)
    assert method_noise == {"eps"}
    mean, log_var = posteriors[INDEX, :16], posteriors[INDEX, 16:]
    draw = mean + torch.exp(log_var / 2) * noise["eps"]  # z = mean + sigma eps, by hand
    if name == "hs-vae":  # on the sphere
        draw = draw / draw.norm(dim=1, keepdim=True)
    torch.testing.assert_close(decoded, draw)
    assert not torch.allclose(decoded[3], decoded[4])  # image 7 twice: two draws of its posterior
