"""The two latent geometries against what each operation must mean."""
import math

import pytest
import torch

from isogen.geometry import EUCLIDEAN, GEOMETRIES, SPHERE


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("geometry", list(GEOMETRIES.values()))
def test_standardized_prior_projections_have_unit_variance(geometry):
    """What SIGReg relies on: under the prior, a.standardize(z) ~ mean 0, variance 1 for unit a."""
    z = geometry.prior(50000, 12, gen())
    a = torch.nn.functional.normalize(torch.randn(12, 5, generator=gen(1), dtype=torch.float64), dim=0)
    u = geometry.standardize(z) @ a  # (N, 5)
    assert torch.allclose(u.mean(0), torch.zeros(5, dtype=torch.float64), atol=0.02)
    assert torch.allclose(u.var(0), torch.ones(5, dtype=torch.float64), atol=0.03)


def test_sphere_prior_is_uniform_and_euclidean_prior_is_standard_normal():
    z = SPHERE.prior(20000, 8, gen())
    assert torch.allclose(z.norm(dim=1), torch.ones(20000, dtype=torch.float64))
    assert z.mean(0).abs().max() < 0.02  # no preferred direction
    assert torch.allclose(torch.cov(z.T), torch.eye(8, dtype=torch.float64) / 8, atol=0.005)  # isotropic, trace 1
    g = EUCLIDEAN.prior(20000, 8, gen())
    assert torch.allclose(torch.cov(g.T), torch.eye(8, dtype=torch.float64), atol=0.05)
    assert torch.equal(SPHERE.normalize(g), torch.nn.functional.normalize(g, dim=1))
    assert torch.equal(EUCLIDEAN.normalize(g), g)


@pytest.mark.parametrize("geometry", list(GEOMETRIES.values()))
@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_paths_start_and_end_at_the_codes(geometry, mode):
    z1, z2 = (geometry.normalize(torch.randn(4, 6, generator=gen(seed))) for seed in (2, 3))
    path = geometry.interpolate(z1, z2, 7, mode)
    assert path.shape == (4, 7, 6)
    assert torch.allclose(path[:, 0], z1, atol=1e-5) and torch.allclose(path[:, -1], z2, atol=1e-5)
    if geometry is SPHERE:
        assert torch.allclose(path.norm(dim=2), torch.ones(4, 7), atol=1e-5)


def test_slerp_moves_at_constant_angular_speed_and_shares_the_lerp_midpoint_on_the_sphere():
    z1, z2 = SPHERE.normalize(torch.randn(5, 8, generator=gen(4), dtype=torch.float64)), \
        SPHERE.normalize(torch.randn(5, 8, generator=gen(5), dtype=torch.float64))
    path = SPHERE.interpolate(z1, z2, 9, "slerp")
    angles = torch.acos((path[:, 1:] * path[:, :-1]).sum(2).clamp(-1, 1))  # (P, S-1)
    total = torch.acos((z1 * z2).sum(1))
    assert torch.allclose(angles, (total / 8)[:, None].expand(-1, 8), atol=1e-6)
    assert SPHERE.shared_midpoint
    assert torch.allclose(SPHERE.interpolate(z1, z2, 3, "lerp")[:, 1], path[:, 4], atol=1e-6)


def test_euclidean_slerp_interpolates_the_norm_linearly():
    z1, z2 = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    path = EUCLIDEAN.interpolate(z1, z2, 5, "slerp")[0]
    assert torch.allclose(path.norm(dim=1), torch.linspace(3, 1, 5), atol=1e-5)
    assert torch.allclose(path[2], 2 * torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-5)
    with pytest.raises(ValueError, match="lerp' or 'slerp"):
        EUCLIDEAN.interpolate(z1, z2, 5, "cubic")
