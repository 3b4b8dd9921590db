"""Contract tests over every registered method."""
import math

import pytest
import torch

from isogen.augment import apply_affine
from isogen.config import make_config
from isogen.errors import IsogenError
from isogen.geometry import EUCLIDEAN, SPHERE
from isogen.losses import koleo
from isogen.methods import METHODS, Contrastive, make_method


def build(name, **overrides):
    config = make_config("smoke", {"method": name, **{k: str(v) for k, v in overrides.items()}})
    method = make_method(config)
    return config, method, method.build_model()


def one_step(method, model, n, seed=0):
    """The noise of one step of n images (the first of a one-step epoch): the method's and its decoder's."""
    return {k: v[0] for k, v in method.epoch_noise(model, 1, n, torch.Generator().manual_seed(seed)).items()}


ONE_STEP_DECODER_ONLY = {"sphere-ae"}  # its consistency terms decode inside the training step


@pytest.mark.parametrize("decoder", ["deconv", "flow"])
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_returns_finite_named_terms_and_trains_both_networks(name, decoder):
    if name in ONE_STEP_DECODER_ONLY and decoder == "flow":
        with pytest.raises(IsogenError, match="use decoder=deconv"):
            build(name, decoder=decoder)
        return
    config, method, model = build(name, decoder=decoder)
    x = torch.rand(16, 1, 28, 28)
    terms = method.loss(model, x, one_step(method, model, 16))
    assert ("recon_bce" if decoder == "deconv" else "flow_mse") in terms  # the decoder's term
    for term, value in terms.items():
        assert value.shape == () and math.isfinite(value.item()), term
    method.total(terms).backward()
    for part in (model.encoder, model.decoder):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0
    samplers = method.samplers()
    assert list(samplers) == method.sampler_names and all(s.geometry is method.geometry for s in samplers.values())


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if issubclass(m, Contrastive)])
def test_decoder_term_never_reaches_the_encoder(name):
    _, method, model = build(name)
    terms = method.loss(model, torch.rand(8, 1, 28, 28), one_step(method, model, 8))
    terms["recon_bce"].backward()
    assert all(p.grad is None for p in model.encoder.parameters())


def test_weights_scale_terms_into_the_total():
    _, method, model = build("sigreg-sphere", sigreg_weight=0.25)
    terms = method.loss(model, torch.rand(8, 1, 28, 28), one_step(method, model, 8))
    expected = terms["infonce"] + 0.25 * terms["sigreg"] + terms["recon_bce"]
    assert method.total(terms).item() == pytest.approx(expected.item())
    _, vae, _ = build("vae")
    _, beta_vae, _ = build("beta-vae", beta=7.0)
    assert vae.weights.as_dict() == {"kl": 1.0} and beta_vae.weights.as_dict() == {"kl": 7.0}


def test_infonce_uniform_adds_align_uniforms_uniformity_to_infonce():
    """Its InfoNCE term is infonce's and its uniformity term align-uniform's, on the same views."""
    x = torch.rand(8, 1, 28, 28)
    terms = {}
    for name in ("infonce-uniform", "infonce", "align-uniform"):
        torch.manual_seed(0)  # the same initial weights
        _, method, model = build(name, uniformity_weight=0.3)
        terms[name] = method.loss(model, x, one_step(method, model, 8))
    mixed = terms["infonce-uniform"]
    assert torch.equal(mixed["infonce"], terms["infonce"]["infonce"])
    assert torch.equal(mixed["uniform"], terms["align-uniform"]["uniform"])
    _, method, _ = build("infonce-uniform", uniformity_weight=0.3)
    expected = mixed["infonce"] + 0.3 * mixed["uniform"] + mixed["recon_bce"]
    assert method.total(mixed).item() == pytest.approx(expected.item())


def test_sigreg_per_view_is_the_mean_of_each_views_statistic():
    _, method, model = build("sigreg-sphere", sigreg_views="separate")
    x = torch.rand(8, 1, 28, 28)
    noise = one_step(method, model, 8)
    terms = method.loss(model, x, noise)
    views = apply_affine(x.repeat(2, 1, 1, 1), noise["views"])
    h1, h2 = model.features(views).chunk(2)
    each = [method.sigreg(h, noise["slices"]) for h in (h1, h2)]
    assert terms["sigreg"].item() == pytest.approx((each[0] + each[1]).item() / 2, rel=1e-6)
    pooled = method.sigreg(torch.cat([h1, h2]), noise["slices"]).item()
    assert abs(terms["sigreg"].item() - pooled) > 1e-3 * pooled  # the option changes what is measured


def test_koleo_is_each_views_nearest_neighbour_term_on_the_codes_and_absent_at_weight_zero():
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    _, method, model = build("sigreg-sphere", koleo_weight=0.5)
    noise = one_step(method, model, 8)
    terms = method.loss(model, x, noise)
    h1, h2 = model.features(apply_affine(x.repeat(2, 1, 1, 1), noise["views"])).chunk(2)
    each = [koleo(SPHERE.normalize(h)) for h in (h1, h2)]
    assert terms["koleo"].item() == pytest.approx((each[0] + each[1]).item() / 2, rel=1e-6)
    expected = terms["infonce"] + 0.1 * terms["sigreg"] + 0.5 * terms["koleo"] + terms["recon_bce"]
    assert method.total(terms).item() == pytest.approx(expected.item(), rel=1e-6)
    torch.manual_seed(0)
    _, method, model = build("sigreg-sphere")
    assert "koleo" not in method.loss(model, x, noise)


def test_hs_vae_anneals_its_weights_in_place_as_sqrt_epoch():
    _, method, _ = build("hs-vae", hs_weight=2.0, hs_anneal_epochs=4)
    buffer = method.weights.hs_prior  # a captured CUDA graph reads this very tensor
    for epoch, expected in [(0, 2 * 0.5), (2, 2 * math.sqrt(0.75)), (3, 2.0), (9, 2.0)]:
        method.start_epoch(epoch)
        assert method.weights.hs_prior is buffer
        assert method.weights.as_dict() == pytest.approx({"hs_prior": expected, "kl_sigma": expected})


@pytest.mark.parametrize("name", list(METHODS))
def test_noise_is_drawn_per_step_and_repeats_with_the_generator(name):
    _, method, _ = build(name)
    a, b = method.noise(5, 8, torch.Generator().manual_seed(3)), method.noise(5, 8, torch.Generator().manual_seed(3))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].shape[0] == 5 for k in a)
    assert all(not torch.equal(v[0], v[1]) for v in a.values())  # fresh every step


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


def test_the_sphere_encoders_terms_and_their_gradients():
    _, method, model = build("sphere-ae", sphere_noise_deg=60, sphere_latent_weight=2.0)
    x = torch.rand(8, 1, 28, 28)
    noise = one_step(method, model, 8)
    assert noise["angle"].max() <= math.radians(60) and noise["direction"].shape == (8, 16)
    terms = method.loss(model, x, noise)
    assert list(terms) == ["recon_bce", "pixel_consistency", "latent_consistency"]
    expected = terms["recon_bce"] + terms["pixel_consistency"] + 2.0 * terms["latent_consistency"]
    assert method.total(terms).item() == pytest.approx(expected.item())
    terms["latent_consistency"].backward()  # the far point's image encodes back: both networks learn from it
    assert all(p.grad is not None for p in model.decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_refinement_is_the_encode_decode_loop_and_only_for_sphere_runs_with_a_one_step_decoder():
    from isogen.sample import Refined, decode_codes

    _, method, model = build("sigreg-sphere", refine_steps=2)
    model.eval()
    prior = method.samplers()["prior"]
    z = Refined(prior, model, 2).sample(6, torch.Generator().manual_seed(0))
    expected = prior.sample(6, torch.Generator().manual_seed(0))
    for _ in range(2):
        expected = model.encode(decode_codes(model, expected))
    assert torch.allclose(z, expected, atol=1e-6) and torch.allclose(z.norm(dim=1), torch.ones(6))
    for bad in ({"method": "vae"}, {"method": "sigreg-sphere", "decoder": "flow"}):
        with pytest.raises(IsogenError, match="use refine_steps=0"):
            build(bad.pop("method"), refine_steps=1, **bad)


def test_every_method_specific_key_is_read_by_someone_and_the_checks_name_who():
    from isogen.config import Config
    from isogen.methods import check_keys
    from isogen.models import DECODERS
    from isogen.samplers import SAMPLERS

    keys = {f.name for f in __import__("dataclasses").fields(Config)}
    owned = set().union(*(m.config_keys for m in METHODS.values()), *(d.config_keys for d in DECODERS.values()),
                        *(s.config_keys for s in SAMPLERS.values()))
    assert owned <= keys  # no typo among the declarations
    check_keys(make_config("smoke", {"method": "beta-vae", "beta": "2"}), ["beta"])  # read: no error
    check_keys(make_config("smoke", {"method": "vae", "samplers": "prior,learned", "code_flow_steps": "4"}),
               ["code_flow_steps"])
    with pytest.raises(IsogenError, match=r"sigreg_target does not apply to sigreg-gauss .* only sigreg-sphere read"):
        check_keys(make_config("smoke", {"method": "sigreg-gauss", "sigreg_target": "sphere"}), ["sigreg_target"])


def test_clean_view_makes_every_first_view_the_image_itself():
    x = torch.rand(4, 1, 28, 28)
    default = make_method(make_config("smoke", {"method": "sigreg-sphere"}))
    clean = make_method(make_config("smoke", {"method": "sigreg-sphere", "clean_view": "true"}))
    drawn = {m: m.noise(3, 4, torch.Generator().manual_seed(0))["views"] for m in (default, clean)}
    assert torch.equal(drawn[clean][:, 4:], drawn[default][:, 4:])  # the second views: the default's draws
    assert not torch.equal(drawn[default][:, :4], drawn[clean][:, :4])
    assert torch.allclose(apply_affine(x, drawn[clean][0, :4]), x, atol=1e-5)  # identity maps: the images
