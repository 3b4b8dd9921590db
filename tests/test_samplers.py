import math

import pytest
import torch

from isogen.samplers import GaussianMixture, MatchedGaussian, Prior, VonMisesFisher, make_sampler


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_prior_on_the_sphere_is_uniform():
    z = Prior(8, on_sphere=True).sample(20000, gen())
    assert torch.allclose(z.norm(dim=1), torch.ones(20000), atol=1e-5)
    assert z.mean(0).abs().max() < 0.02  # no preferred direction
    assert torch.allclose(torch.cov(z.T), torch.eye(8) / 8, atol=0.005)  # isotropic, trace 1


def test_matched_gaussian_recovers_mean_and_covariance():
    a = torch.randn(4, 4, generator=gen(1), dtype=torch.float64)
    true_cov, true_mean = a @ a.T + torch.eye(4, dtype=torch.float64), torch.tensor([1.0, -2.0, 0.5, 3.0])
    codes = torch.distributions.MultivariateNormal(true_mean.double(), true_cov).sample((50000,))
    sampler = MatchedGaussian(4, on_sphere=False).fit(codes)
    z = sampler.sample(50000, gen(2)).double()
    assert torch.allclose(z.mean(0), true_mean.double(), atol=0.05)
    assert torch.allclose(torch.cov(z.T), true_cov, atol=0.15)


@pytest.mark.parametrize("dim, kappa", [(3, 5.0), (16, 40.0), (32, 200.0)])
def test_vmf_fit_recovers_direction_and_concentration(dim, kappa):
    mu = torch.nn.functional.normalize(torch.arange(1.0, dim + 1, dtype=torch.float64), dim=0)
    truth = VonMisesFisher(dim, on_sphere=True)
    truth.mu, truth.kappa = mu, kappa
    samples = truth.sample(40000, gen(3)).double()
    assert torch.allclose(samples.norm(dim=1), torch.ones(40000, dtype=torch.float64), atol=1e-5)
    # E[mu . z] = A_D(kappa) = I_{D/2}(kappa) / I_{D/2-1}(kappa), an independent check of the sampler
    from scipy.special import ive
    mean_cos = ive(dim / 2, kappa) / ive(dim / 2 - 1, kappa)
    assert (samples @ mu).mean().item() == pytest.approx(mean_cos, abs=0.01)
    fitted = VonMisesFisher(dim, on_sphere=True).fit(samples)
    assert torch.dot(fitted.mu, mu).item() > 0.999
    assert fitted.kappa == pytest.approx(kappa, rel=0.1)


def test_gmm_sampler_reproduces_separated_clusters():
    centres = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 6.0]])
    codes = torch.cat([c + 0.3 * torch.randn(3000, 2, generator=gen(i)) for i, c in enumerate(centres)])
    sampler = GaussianMixture(2, on_sphere=False, components=3).fit(codes)
    z = sampler.sample(6000, gen(9))
    nearest = torch.cdist(z, centres).argmin(1)
    shares = torch.bincount(nearest, minlength=3).float() / 6000
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.03)
    assert torch.cdist(z, centres).min(1).values.mean() < 0.6


def test_samplers_repeat_with_the_seed_and_normalise_on_the_sphere():
    codes = torch.randn(500, 6, generator=gen())
    for name in ("prior", "matched", "vmf", "gmm"):
        s = make_sampler(name, 6, on_sphere=True, components=3).fit(codes)
        a, b = s.sample(50, gen(4)), s.sample(50, gen(4))
        assert torch.equal(a, b), name
        assert torch.allclose(a.norm(dim=1), torch.ones(50), atol=1e-5), name
        assert math.isfinite(a.sum().item())
