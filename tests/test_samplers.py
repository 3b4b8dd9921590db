"""Samplers: contract tests over every registry entry, and each density against a known answer."""
import pytest
import torch
from scipy.special import ive

from isogen.config import make_config
from isogen.errors import IsogenError
from isogen.geometry import EUCLIDEAN, GEOMETRIES, SPHERE
from isogen.samplers import SAMPLERS, build_samplers


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def build(name, geometry, dim, **overrides):
    config = make_config("smoke", {"embed_dim": str(dim), **{k: str(v) for k, v in overrides.items()}})
    return SAMPLERS[name](geometry, config)


def fitted(name, geometry, codes, **overrides):
    return build(name, geometry, codes.shape[1], **overrides).fit(codes, "cpu", gen(), budget_steps=200)


CASES = [(name, geometry) for name, cls in SAMPLERS.items() for geometry in GEOMETRIES.values()
         if geometry.name in cls.geometries]


@pytest.mark.parametrize("name, geometry", CASES, ids=[f"{n}-{g.name}" for n, g in CASES])
def test_every_sampler_fits_draws_on_its_geometry_repeats_and_survives_a_save(name, geometry):
    codes = geometry.normalize(torch.randn(400, 6, generator=gen(1)) * torch.linspace(0.5, 2, 6) + 0.3)
    sampler = fitted(name, geometry, codes, gmm_components=3)
    a, b = sampler.sample(50, gen(4)), sampler.sample(50, gen(4))
    assert a.shape == (50, 6) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert not torch.equal(a, sampler.sample(50, gen(5)))
    if geometry is SPHERE:
        assert torch.allclose(a.norm(dim=1), torch.ones(50), atol=1e-5)
    # the state_dict holds everything fitted: a fresh sampler loaded from it draws the same codes
    loaded = build(name, geometry, 6, gmm_components=3)
    loaded.load_state_dict(sampler.state_dict())
    assert torch.equal(loaded.sample(50, gen(4)), a)


@pytest.mark.parametrize("name", [n for n, cls in SAMPLERS.items() if cls.needs_fit])
def test_an_unfitted_sampler_refuses_to_draw(name):
    with pytest.raises(IsogenError, match="not fitted"):
        build(name, SPHERE, 4).sample(5, gen())


def test_samplers_are_built_by_name_and_checked_against_the_geometry():
    config = make_config("smoke", {"embed_dim": "5"})
    assert list(build_samplers(config, SPHERE, ["vmf", "prior"])) == ["vmf", "prior"]
    with pytest.raises(IsogenError, match="sampler 'vmf' draws on sphere"):
        build_samplers(config, EUCLIDEAN, ["vmf"])
    with pytest.raises(IsogenError, match="valid samplers: prior, matched"):
        build_samplers(config, SPHERE, ["flow"])


def test_matched_gaussian_recovers_mean_and_covariance():
    a = torch.randn(4, 4, generator=gen(1), dtype=torch.float64)
    true_cov, true_mean = a @ a.T + torch.eye(4, dtype=torch.float64), torch.tensor([1.0, -2.0, 0.5, 3.0])
    codes = torch.distributions.MultivariateNormal(true_mean.double(), true_cov).sample((50000,))
    z = fitted("matched", EUCLIDEAN, codes).sample(50000, gen(2)).double()
    assert torch.allclose(z.mean(0), true_mean.double(), atol=0.05)
    assert torch.allclose(torch.cov(z.T), true_cov, atol=0.15)


@pytest.mark.parametrize("dim, kappa", [(3, 5.0), (16, 40.0), (32, 200.0)])
def test_vmf_fit_recovers_direction_and_concentration(dim, kappa):
    mu = torch.nn.functional.normalize(torch.arange(1.0, dim + 1, dtype=torch.float64), dim=0)
    truth = build("vmf", SPHERE, dim)
    truth.load_state_dict({"fitted": torch.tensor(True), "mu": mu, "kappa": torch.tensor(kappa, dtype=torch.float64)})
    samples = truth.sample(40000, gen(3)).double()
    assert torch.allclose(samples.norm(dim=1), torch.ones(40000, dtype=torch.float64), atol=1e-5)
    # E[mu . z] = A_D(kappa) = I_{D/2}(kappa) / I_{D/2-1}(kappa), an independent check of the sampler
    mean_cos = ive(dim / 2, kappa) / ive(dim / 2 - 1, kappa)
    assert (samples @ mu).mean().item() == pytest.approx(mean_cos, abs=0.01)
    estimate = fitted("vmf", SPHERE, samples)
    assert torch.dot(estimate.mu, mu).item() > 0.999
    assert estimate.kappa.item() == pytest.approx(kappa, rel=0.1)


def test_gmm_sampler_reproduces_separated_clusters():
    centres = torch.tensor([[-5.0, 0.0, 1.0], [5.0, 0.0, 0.0], [0.0, 6.0, -1.0]])
    codes = torch.cat([c + 0.3 * torch.randn(3000, 3, generator=gen(i)) for i, c in enumerate(centres)])
    z = fitted("gmm", EUCLIDEAN, codes, gmm_components=3).sample(6000, gen(9))
    nearest = torch.cdist(z, centres).argmin(1)
    shares = torch.bincount(nearest, minlength=3).float() / 6000
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.03)
    assert torch.cdist(z, centres).min(1).values.mean() < 0.7


def test_the_learned_samplers_seeding_leaves_cudas_generators_alone(monkeypatch):
    """torch.manual_seed reseeds every CUDA generator too (lazily, even on a CPU machine): a sampler must not."""
    from isogen.config import make_config
    from isogen.geometry import SPHERE
    from isogen.samplers.learned import LearnedFlow

    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(seed))
    state = torch.random.get_rng_state()
    sampler = LearnedFlow(SPHERE, make_config("smoke", {"code_flow_width": "16"}))
    sampler.fit(SPHERE.prior(64, 16, torch.Generator().manual_seed(0), torch.float32), "cpu",
                torch.Generator().manual_seed(1), 3)
    assert calls == [] and torch.equal(torch.random.get_rng_state(), state)  # nor the CPU's global stream
