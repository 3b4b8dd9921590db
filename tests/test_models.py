"""Contract tests over every encoder and decoder of the registries."""
import numpy as np
import pytest
import torch

from isogen.codes import recompute_batchnorm
from isogen.config import make_config
from isogen.data import as_float
from isogen.errors import IsogenError
from isogen.geometry import EUCLIDEAN, SPHERE
from isogen.models import DECODERS, ENCODERS, build_model
from isogen.models.encoders import RunningBatchNorm


def config(**overrides):
    return make_config("smoke", {k: str(v) for k, v in overrides.items()})


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("dim", [3, 32])
@pytest.mark.parametrize("geometry, posterior", [(SPHERE, False), (EUCLIDEAN, False), (EUCLIDEAN, True)])
def test_every_encoder_gives_codes_of_its_geometry(encoder, dim, geometry, posterior):
    model = build_model(config(encoder=encoder, embed_dim=dim, encoder_width=8), geometry, posterior)
    x = torch.rand(5, 1, 28, 28)
    h = model.features(x)
    assert h.shape == (5, 2 * dim if posterior else dim)
    z = model.encode(x)
    assert z.shape == (5, dim)
    if geometry is SPHERE:
        assert torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-6)
    if posterior:
        assert torch.equal(z, h[:, :dim])  # encode is the posterior mean, never a random draw
    counts = model.parameter_counts()
    assert counts["encoder"] > 0 and counts["decoder"] > 0


@pytest.mark.parametrize("name", list(DECODERS))
def test_every_decoder_trains_by_its_loss_and_generates_images(name):
    decoder = DECODERS[name].from_config(config(decoder=name, embed_dim=8))
    z, x = torch.randn(6, 8), torch.rand(6, 1, 28, 28)
    noise = decoder.noise(3, 6, torch.Generator().manual_seed(0))  # an epoch of 3 steps
    assert all(value.shape[:2] == (3, 6) for value in noise.values())
    terms = decoder.loss(z, x, {k: v[0] for k, v in noise.items()})
    assert terms and all(value.shape == () and torch.isfinite(value) for value in terms.values())
    sum(terms.values()).backward()
    trained = [p for p in decoder.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None and torch.isfinite(p.grad).all() for p in trained)
    decoder.after_step()
    with torch.no_grad():
        a = decoder.generate(z, torch.Generator().manual_seed(0))
        b = decoder.generate(z, torch.Generator().manual_seed(1))
    assert a.shape == (6, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    # a deterministic decoder returns its mean whatever the generator; a stochastic one draws
    assert torch.equal(a, b) != decoder.stochastic


def test_deconv_decoder_is_the_bernoulli_mean_and_likelihood():
    decoder = DECODERS["deconv"](8, 16)
    z, x = torch.randn(4, 8), torch.rand(4, 1, 28, 28)
    logits = decoder(z)
    p = torch.sigmoid(logits)
    nll = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3)).mean()
    assert decoder.loss(z, x, {})["recon_bce"].item() == pytest.approx(nll.item(), rel=1e-4)
    assert torch.allclose(decoder.generate(z), p)


@pytest.mark.parametrize("key, name, valid", [("encoder", "vit", "cnn, resnet"), ("decoder", "pixelcnn", "deconv")])
def test_unknown_network_names_list_the_valid_ones(key, name, valid):
    with pytest.raises(IsogenError, match=f"valid {key}s: {valid}"):
        build_model(config(**{key: name}), SPHERE, False)


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_fresh_encoder_codes_are_not_collapsed(encoder, mnist):
    """The projection head's BatchNorm spreads the codes of an untrained network (without it the
    CNN's codes of different digits had mean cosine 0.995, and SIGReg's gradient swamped InfoNCE's)."""
    torch.manual_seed(0)
    model = build_model(config(encoder=encoder, embed_dim=32, encoder_width=32), SPHERE, False)
    z = model.encode(as_float(mnist.train_images[:256]))  # training mode: batch statistics, as in a step
    off_diagonal = (z @ z.T)[~torch.eye(len(z), dtype=torch.bool)]
    assert off_diagonal.mean() < 0.6


def test_running_batchnorm_moments_follow_a_numpy_reference():
    """Cumulative average of each batch's mean and unbiased variance over the first 1/momentum batches, then
    the moving average; every output normalised by the moments from before its own batch."""
    torch.manual_seed(0)
    layer = RunningBatchNorm(3, momentum=0.25)
    batches = [torch.randn(16, 3) * (1 + b) + b for b in range(7)]
    mean, var = np.zeros(3), np.ones(3)
    for b, x in enumerate(batches, start=1):
        out = layer(x)
        expected = (x.numpy() - mean) / np.sqrt(var + layer.eps)
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
        weight = max(1 / b, 0.25)
        mean = (1 - weight) * mean + weight * x.numpy().mean(0)
        var = (1 - weight) * var + weight * x.numpy().var(0, ddof=1)
        np.testing.assert_allclose(layer.running_mean.numpy(), mean, rtol=1e-5)
        np.testing.assert_allclose(layer.running_var.numpy(), var, rtol=1e-5)
    assert layer.state_dict().keys() == torch.nn.BatchNorm1d(3).state_dict().keys()


def test_a_running_batchnorm_code_does_not_depend_on_its_batch():
    """The point of head_norm=running: an image's features in a training step are the same whatever the other
    images of its batch (with BatchNorm1d they are not), and gradients still reach the input and the affine."""
    x = torch.randn(8, 4, requires_grad=True)
    layer = RunningBatchNorm(4)
    layer(x).pow(2).sum().backward()  # the moments' own update after the forward does not break backward
    assert x.grad.abs().sum() > 0 and layer.weight.grad.abs().sum() > 0
    other = torch.cat([x[:1].detach(), 5 + 3 * torch.randn(7, 4)])
    for norm, independent in ((RunningBatchNorm, True), (torch.nn.BatchNorm1d, False)):
        outputs = []
        for batch in (x.detach(), other):
            layer = norm(4)
            layer.running_mean.fill_(0.5)
            outputs.append(layer(batch)[0])
        assert torch.allclose(*outputs) is independent


def test_head_norm_picks_the_projection_heads_normalisation(mnist):
    """Every encoder builds with either head; the running one's codes spread once its moments have seen a batch,
    and BatchNorm's recomputation on clean images (bn_recompute) gives it the same moments."""
    for encoder in ENCODERS:
        torch.manual_seed(0)
        model = build_model(config(encoder=encoder, embed_dim=32, encoder_width=32, head_norm="running"), SPHERE,
                            False)
        assert any(isinstance(m, RunningBatchNorm) for m in model.encoder.modules())
        images = mnist.train_images[:256]
        model.encode(as_float(images))  # training mode: the moments take this batch's
        z = model.encode(as_float(images))
        assert (z @ z.T)[~torch.eye(len(z), dtype=torch.bool)].mean() < 0.6
        recompute_batchnorm(model, images, batch_size=128)
        reference = build_model(config(encoder=encoder, embed_dim=32, encoder_width=32), SPHERE, False)
        reference.load_state_dict(model.state_dict())
        recompute_batchnorm(reference, images, batch_size=128)
        assert torch.allclose(model.encoder.state_dict()[name := next(k for k in model.encoder.state_dict()
                                                                     if k.endswith("running_var"))],
                              reference.encoder.state_dict()[name])
    with pytest.raises(IsogenError, match="valid head_norms: batch, running"):
        build_model(config(head_norm="layer"), SPHERE, False)
