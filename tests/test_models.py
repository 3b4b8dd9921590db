import pytest
import torch

from isogen.data import as_float
from isogen.errors import IsogenError
from isogen.models import ENCODERS, LatentModel, parameter_counts


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("dim", [3, 32])
@pytest.mark.parametrize("latent, posterior", [("sphere", False), ("euclidean", False), ("euclidean", True)])
def test_shapes_and_code_geometry(encoder, dim, latent, posterior):
    model = LatentModel(encoder, dim, latent, posterior, encoder_width=8, decoder_width=16)
    x = torch.rand(5, 1, 28, 28)
    h = model.features(x)
    assert h.shape == (5, 2 * dim if posterior else dim)
    z = model.encode(x)
    assert z.shape == (5, dim)
    if latent == "sphere":
        assert torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-6)
    if posterior:
        assert torch.equal(z, h[:, :dim])  # encode is the posterior mean, never a random draw
    assert model.decode(z).shape == (5, 1, 28, 28)
    counts = parameter_counts(model)
    assert counts["encoder"] > 0 and counts["decoder"] > 0


def test_unknown_encoder_lists_the_valid_ones():
    with pytest.raises(IsogenError, match="valid encoders: cnn, resnet"):
        LatentModel("vit", 8, "sphere", False, 8, 16)


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_fresh_encoder_codes_are_not_collapsed(encoder, mnist):
    """The projection head's BatchNorm spreads the codes of an untrained network (without it the
    CNN's codes of different digits had mean cosine 0.995, and SIGReg's gradient swamped InfoNCE's)."""
    torch.manual_seed(0)
    model = LatentModel(encoder, 32, "sphere", False, encoder_width=32, decoder_width=16)
    z = model.encode(as_float(mnist.train_images[:256]))  # training mode: batch statistics, as in a step
    off_diagonal = (z @ z.T)[~torch.eye(len(z), dtype=torch.bool)]
    assert off_diagonal.mean() < 0.6
