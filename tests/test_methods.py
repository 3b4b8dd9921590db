"""Contract tests over every registered method."""
import math

import pytest
import torch

from isogen.config import make_config
from isogen.errors import IsogenError
from isogen.geometry import EUCLIDEAN, SPHERE
from isogen.methods import METHODS, Contrastive, make_method


def build(name, **overrides):
    config = make_config("smoke", {"method": name, **{k: str(v) for k, v in overrides.items()}})
    method = make_method(config)
    return config, method, method.build_model()


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_returns_finite_named_terms_and_trains_both_networks(name):
    config, method, model = build(name)
    x = torch.rand(16, 1, 28, 28)
    terms = method.loss(model, x, torch.Generator().manual_seed(0))
    assert set(model.decoder.loss(torch.zeros(1, config.embed_dim), x[:1])) <= set(terms)  # the decoder's terms
    for term, value in terms.items():
        assert value.shape == () and math.isfinite(value.item()), term
    method.total(terms).backward()
    for part in (model.encoder, model.decoder):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0
    samplers = method.samplers()
    assert list(samplers) == method.sampler_names and all(s.geometry is method.geometry for s in samplers.values())


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if issubclass(m, Contrastive)])
def test_decoder_term_never_reaches_the_encoder(name):
    _, method, model = build(name)
    terms = method.loss(model, torch.rand(8, 1, 28, 28), torch.Generator().manual_seed(0))
    terms["recon_bce"].backward()
    assert all(p.grad is None for p in model.encoder.parameters())


def test_weights_scale_terms_into_the_total():
    _, method, model = build("sigreg-sphere", sigreg_weight=0.25)
    terms = method.loss(model, torch.rand(8, 1, 28, 28), torch.Generator().manual_seed(0))
    expected = terms["infonce"] + 0.25 * terms["sigreg"] + terms["recon_bce"]
    assert method.total(terms).item() == pytest.approx(expected.item())
    _, vae, _ = build("vae", beta=7.0)
    _, beta_vae, _ = build("beta-vae", beta=7.0)
    assert vae.weights == {"kl": 1.0} and beta_vae.weights == {"kl": 7.0}


def test_latent_geometry_per_method():
    assert METHODS["sigreg-sphere"].geometry is SPHERE and METHODS["infonce"].geometry is SPHERE
    assert METHODS["sigreg-gauss"].geometry is EUCLIDEAN and METHODS["vae"].posterior
    assert METHODS["hs-vae"].geometry is SPHERE and METHODS["hs-vae"].posterior
    _, sigreg_gauss, _ = build("sigreg-gauss", sigreg_target="sphere")  # R^D codes are always tested against N(0,1)
    assert sigreg_gauss.sigreg.geometry is EUCLIDEAN and sigreg_gauss.sigreg_target() == "gauss"


def test_samplers_come_from_the_config_or_the_method():
    _, method, _ = build("sigreg-sphere")
    assert method.sampler_names == ["prior", "matched"]
    _, method, _ = build("infonce", samplers="gmm,vmf,prior")
    assert list(method.samplers()) == ["gmm", "vmf", "prior"]
    with pytest.raises(IsogenError, match="sampler 'vmf' draws on sphere"):
        build("vae", samplers="vmf")


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(IsogenError, match="valid methods: infonce, sigreg-sphere"):
        make_method(make_config("smoke", {"method": "simclr"}))
