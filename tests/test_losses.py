"""Every loss against an independent answer: a closed form, a NumPy loop, a limit."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import special, stats

from isogen.geometry import EUCLIDEAN, SPHERE
from isogen.losses import (
    SIGReg,
    alignment,
    epps_pulley,
    epps_pulley_closed_form,
    gaussian_kl,
    info_nce,
    koleo,
    reconstruction_bce,
    sphere_cf,
    trapezoid_grid,
    uniformity,
)
from isogen.losses.epps_pulley import NULL_MEAN, gauss_cf


def grid(t_max=3.0, knots=17, target=None):
    t, w = trapezoid_grid(t_max, knots)
    cf = gauss_cf(t) if target is None else target(t)
    return torch.tensor(t), torch.tensor(w), torch.tensor(cf)


def uniform_sphere(n, d, generator):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=generator, dtype=torch.float64), dim=1)


# ---------------------------------------------------------------- InfoNCE
def info_nce_loop(h: np.ndarray, tau: float) -> float:
    z = h / np.linalg.norm(h, axis=1, keepdims=True)
    two_n = len(z)
    total = 0.0
    for i in range(two_n):
        p = (i + two_n // 2) % two_n
        sims = [z[i] @ z[k] / tau for k in range(two_n) if k != i]
        total -= z[i] @ z[p] / tau - np.log(np.sum(np.exp(sims)))
    return total / two_n


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_info_nce_matches_a_per_sample_loop(tau):
    h = torch.randn(12, 5, dtype=torch.float64)
    assert info_nce(h, tau).item() == pytest.approx(info_nce_loop(h.numpy(), tau), rel=1e-6)


def test_info_nce_limits():
    # identical views, orthogonal images: the positive dominates as tau -> 0
    z = torch.eye(4).repeat(2, 1)
    assert info_nce(z, 0.01).item() < 1e-6
    # a collapsed batch cannot tell its positive: loss = log(2N - 1)
    assert info_nce(torch.ones(8, 3), 0.2).item() == pytest.approx(math.log(7), rel=1e-6)


def test_info_nce_stays_in_float32_under_bf16_autocast():
    """CPU autocast casts matmuls to bf16 as CUDA's does: the logits must not be (0.3% error at 1/tau = 5)."""
    h = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = info_nce(h, 0.2)
    assert under.dtype == torch.float32 and under.item() == pytest.approx(info_nce(h, 0.2).item(), rel=1e-6)


# ---------------------------------------------------------------- Epps-Pulley
def test_statistic_equals_closed_form_on_a_fine_grid():
    x = torch.randn(200, 20, dtype=torch.float64) * 1.3 + 0.2
    assert torch.allclose(epps_pulley(x, *grid(10.0, 2001)), epps_pulley_closed_form(x), rtol=1e-9)


def test_default_grid_is_within_the_stated_tolerance():
    """t_max = 3, 17 knots: |T_grid - T| <= 0.05 + 1% of T (the tail beyond t = 3 is dropped)."""
    for x in (torch.randn(200, 50, dtype=torch.float64), 1.5 * torch.randn(200, 50, dtype=torch.float64) + 0.3):
        exact = epps_pulley_closed_form(x)
        assert ((epps_pulley(x, *grid()) - exact).abs() <= 0.05 + 0.01 * exact).all()


def test_closed_form_equals_direct_numerical_integral():
    x = np.random.default_rng(0).normal(size=30)

    def integrand(t):
        psi_re, psi_im = np.cos(t * x).mean(), np.sin(t * x).mean()
        return ((psi_re - np.exp(-t**2 / 2)) ** 2 + psi_im**2) * np.exp(-t**2 / 2)

    direct = len(x) * 2 * __import__("scipy").integrate.quad(integrand, 0, np.inf, limit=200)[0]
    assert epps_pulley_closed_form(torch.tensor(x)[:, None]).item() == pytest.approx(direct, rel=1e-7)


def test_null_mean_by_monte_carlo():
    """E[T] = sqrt(2 pi)(1 - 1/sqrt 3) = 1.0594 for every N under x ~ N(0, 1)."""
    assert NULL_MEAN == pytest.approx(1.0594, abs=1e-4)
    g = torch.Generator().manual_seed(0)
    for n in (16, 128):
        t = epps_pulley_closed_form(torch.randn(n, 4000, generator=g, dtype=torch.float64))
        se = t.std() / math.sqrt(t.numel())
        assert abs(t.mean().item() - NULL_MEAN) < 4 * se.item()
        # the upper quantiles approach the asymptotic ones (q90 = 2.28, q95 = 2.95)
        if n == 128:
            assert t.quantile(0.9).item() == pytest.approx(2.28, abs=0.15)
            assert t.quantile(0.95).item() == pytest.approx(2.95, abs=0.25)


def test_sphere_cf_closed_forms():
    t = np.linspace(0, 5, 41)
    s = np.sqrt(3) * t
    # D = 3: sqrt(3) a.z is uniform on [-sqrt 3, sqrt 3], CF sin(s)/s
    assert np.allclose(sphere_cf(t, 3), np.sinc(s / np.pi), atol=1e-12)
    for d in (4, 16, 64):  # the Bessel form of the exact sphere target
        s = t[1:] * math.sqrt(d)
        bessel = special.gamma(d / 2) * (2 / s) ** (d / 2 - 1) * special.jv(d / 2 - 1, s)
        assert np.allclose(sphere_cf(t[1:], d), bessel, atol=1e-10)
    assert np.allclose(sphere_cf(t, 4096), np.exp(-t**2 / 2), atol=1e-3)  # large D: the Gaussian
    assert np.isfinite(sphere_cf(t, 100000)).all()


def test_sphere_cf_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    d = 5
    u = math.sqrt(d) * uniform_sphere(200000, d, g)[:, 0]
    t = np.array([0.5, 1.0, 2.0])
    mc = np.array([np.cos(tt * u.numpy()).mean() for tt in t])
    assert np.allclose(mc, sphere_cf(t, d), atol=0.01)


def test_uniform_sphere_is_null_under_sphere_target_but_biased_under_gauss_target():
    """At small D and large N the N(0,1) target sees the sphere's non-Gaussianity (bias ~0.12 N / D^2)."""
    g = torch.Generator().manual_seed(1)
    d, n, m = 4, 2000, 200
    z = uniform_sphere(n, d, g)
    directions = torch.nn.functional.normalize(torch.randn(d, m, generator=g, dtype=torch.float64), dim=0)
    u = math.sqrt(d) * z @ directions  # (N, M)
    null = epps_pulley(torch.randn(n, m, generator=g, dtype=torch.float64), *grid()).mean().item()
    sphere = epps_pulley(u, *grid(target=lambda t: sphere_cf(t, d))).mean().item()
    gauss = epps_pulley(u, *grid()).mean().item()
    assert abs(sphere - null) < 0.5
    assert gauss - null > 0.5 * 0.12 * n / d**2


def test_collapse_and_anisotropy_give_large_statistics():
    g = torch.Generator().manual_seed(2)
    d, n = 16, 512
    reg = SIGReg(SPHERE, d, num_slices=128, target="sphere")
    uniform = reg(uniform_sphere(n, d, g).float(), reg.draw(g)[0]).item()
    collapsed = reg(torch.ones(n, d) + 0.01 * torch.randn(n, d, generator=g), reg.draw(g)[0]).item()
    stretched = torch.randn(n, d, generator=g) * torch.linspace(0.1, 3, d)
    anisotropic = reg(stretched, reg.draw(g)[0]).item()
    assert uniform < 3
    assert collapsed > 100 * uniform
    assert anisotropic > 5 * uniform


def test_euclidean_sigreg_tests_raw_gaussianity():
    g = torch.Generator().manual_seed(3)
    reg = SIGReg(EUCLIDEAN, 8, num_slices=256)
    assert reg(torch.randn(1024, 8, generator=g), reg.draw(g)[0]).item() < 2
    assert reg(2 * torch.randn(1024, 8, generator=g), reg.draw(g)[0]).item() > 20  # wrong scale


def test_sigreg_slices_are_fresh_yet_reproducible():
    reg = SIGReg(SPHERE, 8, num_slices=4)
    slices = reg.draw(torch.Generator().manual_seed(5), count=3)  # (3, D, M): three steps' worth
    assert slices.shape == (3, 8, 4) and torch.allclose(slices.norm(dim=1), torch.ones(3, 4))
    assert torch.equal(slices, reg.draw(torch.Generator().manual_seed(5), count=3))
    h = torch.randn(64, 8)
    assert reg(h, slices[0]) != reg(h, slices[1])


@pytest.mark.parametrize("autocast", [False, True])
def test_sigreg_gradients_are_finite(autocast):
    reg = SIGReg(SPHERE, 32, num_slices=64, target="sphere")
    layer = torch.nn.Linear(16, 32)
    x = torch.randn(256, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        value = reg(layer(x), reg.draw(torch.Generator().manual_seed(0))[0])
    assert value.dtype == torch.float32  # computed in float32 even under bf16 autocast
    value.backward()
    assert torch.isfinite(layer.weight.grad).all() and layer.weight.grad.abs().sum() > 0


def test_sigreg_rejects_bad_arguments():
    with pytest.raises(ValueError, match="target"):
        SIGReg(SPHERE, 8, target="cauchy")
    with pytest.raises(ValueError, match="projected uniform sphere"):
        SIGReg(EUCLIDEAN, 8, target="sphere")


# ---------------------------------------------------------------- Wang-Isola, VAE, BCE
def test_alignment_and_uniformity_match_direct_formulas():
    z1 = torch.nn.functional.normalize(torch.randn(10, 4, dtype=torch.float64), dim=1)
    z2 = torch.nn.functional.normalize(torch.randn(10, 4, dtype=torch.float64), dim=1)
    a, b = z1.numpy(), z2.numpy()
    assert alignment(z1, z2, 2).item() == pytest.approx(np.mean([np.sum((a[i] - b[i]) ** 2) for i in range(10)]))
    assert alignment(z1, z2, 1).item() == pytest.approx(np.mean([np.linalg.norm(a[i] - b[i]) for i in range(10)]))
    pairs = [np.exp(-2 * np.sum((a[i] - a[j]) ** 2)) for i in range(10) for j in range(i + 1, 10)]
    assert uniformity(z1, 2).item() == pytest.approx(np.log(np.mean(pairs)))


def test_koleo_is_the_mean_negative_log_nearest_distance_and_pushes_neighbours_apart():
    z = torch.nn.functional.normalize(torch.randn(12, 3), dim=1)
    a = z.numpy().astype(np.float64)
    nearest = [min(np.linalg.norm(a[i] - a[j]) for j in range(12) if j != i) for i in range(12)]
    assert koleo(z).item() == pytest.approx(-np.mean(np.log(nearest)), rel=1e-5)
    pair = torch.tensor([[1.0, 0.0], [0.8, 0.6], [-1.0, 0.0]], requires_grad=True)  # the first two are close
    koleo(pair).backward()
    assert torch.isfinite(pair.grad).all()
    assert pair.grad[0] @ (pair[1] - pair[0]).detach() > 0  # descending the loss moves 0 away from 1


def test_gaussian_kl_matches_torch_distributions():
    mean, log_var = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert gaussian_kl(mean, log_var).item() == pytest.approx(expected.item())
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0


def test_reconstruction_bce_is_the_bernoulli_nll_per_image():
    logits, x = torch.randn(3, 1, 28, 28, dtype=torch.float64), torch.rand(3, 1, 28, 28, dtype=torch.float64)
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3)).mean()
    assert reconstruction_bce(logits, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_null_quantiles_agree_with_chi_square_mixture_shape():
    """Sanity of the reference: T's null distribution is right-skewed with median below its mean."""
    t = epps_pulley_closed_form(torch.randn(64, 3000, generator=torch.Generator().manual_seed(9), dtype=torch.float64))
    assert t.median().item() == pytest.approx(0.77, abs=0.08)
    assert stats.skew(t.numpy()) > 1


# ---------------------------------------------------------------- eccentric (Li & Blair 2021)
def eccentric_loop(z: np.ndarray, mu: float) -> float:
    b, d = z.shape
    n = 2 * d * (1 + 1 / (2 * mu * (d - 1))) / (2 * mu - 1)
    total = sum((z[i] @ z[i] + z[j] @ z[j]) / 2 - mu * n * np.log1p(np.sum((z[i] - z[j]) ** 2) / n)
                for i in range(b) for j in range(b) if i != j)
    return total / (b * (b - 1))


@pytest.mark.parametrize("mu", [1.0, 2.5])
def test_eccentric_loss_matches_a_pair_loop(mu):
    from isogen.losses import eccentric_loss

    z = torch.randn(9, 5, dtype=torch.float64)
    assert eccentric_loss(z, mu).item() == pytest.approx(eccentric_loop(z.numpy(), mu), rel=1e-10)


def stationary_radius(d: int, mu: float) -> float:
    """Solve Li & Blair's Theorem 1 for rho by bisection, the integral by quadrature after u = 1 + 2 rho^2 s / N."""
    from scipy import integrate

    from isogen.losses import eccentric_scale

    n = eccentric_scale(d, mu)
    log_c = math.log(2 / math.sqrt(math.pi)) + special.gammaln(d / 2) - special.gammaln((d - 1) / 2)

    def lhs(rho):
        def f(s):
            density = math.exp(log_c + (d - 1) / 2 * math.log(s) + (d - 3) / 2 * math.log(2 - s))
            return density / (1 + 2 * rho**2 * s / n)

        return integrate.quad(f, 0, 2, points=[1.0], limit=200)[0]

    lo, hi = 1e-3, 10 * math.sqrt(d)  # lhs decreases in rho
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if lhs(mid) > 1 / mu else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("d", [12, 38, 64])
def test_eccentric_stationary_sphere_has_radius_sqrt_d(d):
    """Seed 004, Fig. 1: with its N(d, mu), rho is within 0.1% of sqrt(d) for d >= 12, 0.01% for d >= 38."""
    tolerance = 1e-4 if d >= 38 else 1e-3
    for mu in np.linspace(1, 2 * d + 1, 7):
        assert stationary_radius(d, mu) / math.sqrt(d) == pytest.approx(1, abs=tolerance), mu


def test_eccentric_gradient_has_no_radial_part_on_the_sqrt_d_sphere():
    from isogen.losses import eccentric_loss

    g = torch.Generator().manual_seed(4)
    d, radial = 16, []
    for _ in range(40):
        z = (math.sqrt(d) * torch.nn.functional.normalize(torch.randn(256, d, generator=g, dtype=torch.float64), dim=1))
        z.requires_grad_(True)
        eccentric_loss(z, 1.0).backward()
        radial.append(((z.grad * z).sum(1) / z.norm(dim=1)).detach())
    radial = torch.cat(radial) * 256  # per point, undoing the 1/b of the mean
    assert abs(radial.mean().item()) < 4 * (radial.std() / math.sqrt(radial.numel())).item()
    # ... whereas on a sphere of twice the radius the attraction wins: a clearly positive radial gradient
    z = (2 * math.sqrt(d) * torch.nn.functional.normalize(torch.randn(256, d, generator=g, dtype=torch.float64), dim=1))
    z.requires_grad_(True)
    eccentric_loss(z, 1.0).backward()
    assert ((z.grad * z).sum(1) / z.norm(dim=1)).mean().item() * 256 > 1


# ---------------------------------------------------------------- hyperspherical coordinates (Ascarate et al. 2025)
def test_hyperspherical_round_trip_to_float_precision():
    from isogen.losses import from_hyperspherical, to_hyperspherical

    for n in (2, 3, 16, 128):
        x = torch.randn(500, n, dtype=torch.float64)
        radius, angles = to_hyperspherical(x)
        assert torch.allclose(radius, x.norm(dim=1))
        assert (angles[:, 0] >= 0).all() and (angles[:, 0] < 2 * math.pi).all()
        assert (angles[:, 1:] >= 0).all() and (angles[:, 1:] <= math.pi).all()
        assert (from_hyperspherical(radius, angles) - x).abs().max() < 1e-12


def test_angle_cosines_of_the_ones_vector_and_the_prior_minimum():
    from isogen.losses.hyperspherical import angle_cosines, hyperspherical_prior_loss

    ones = torch.ones(1, 6, dtype=torch.float64)
    assert torch.allclose(angle_cosines(ones)[0], 1 / torch.arange(2, 7, dtype=torch.float64).sqrt())
    # a batch on the last axis at radius sqrt(n): cos(phi_j) = 0 for j < n-1 and 1 for j = n-1, radius on target
    n = 5
    batch = torch.zeros(8, n, dtype=torch.float64)
    batch[:, -1] = math.sqrt(n)
    expected = sum(1 / math.sqrt(j + 1) for j in range(1, n - 1))  # the angles j < n-1 miss a = 1
    assert hyperspherical_prior_loss(batch, 1.0, 0.0).item() == pytest.approx(expected)
    # (2 sqrt n - sqrt n)^2 / n
    assert hyperspherical_prior_loss(2 * batch, 1.0, 0.0).item() == pytest.approx(expected + 1)


def test_pooling_two_identical_views_doubles_the_statistic():
    """Why pooled views need their own null: T = N * integral |phi_N - phi|^2 w, and repeating every sample
    keeps phi_N while doubling N. Two augmented views are correlated, so their pooled null mean lies
    between EP's and twice it; sigreg_views=separate keeps EP's."""
    sigreg = SIGReg(SPHERE, 8, 16)
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    slices = sigreg.draw(torch.Generator().manual_seed(1))[0]
    assert sigreg(torch.cat([z, z]), slices).item() == pytest.approx(2 * sigreg(z, slices).item(), rel=1e-5)


# ---------------------------------------------------------------- Sphere Encoder
def test_jittering_along_a_great_circle_moves_a_code_by_the_angle():
    from isogen.losses import jitter_on_sphere

    z = F.normalize(torch.randn(50, 16, dtype=torch.float64), dim=1)
    e = torch.randn(50, 16, dtype=torch.float64)
    e = e - (e * z).sum(1, keepdim=True) * z  # orthogonal to z: the angle is exact
    angle = torch.rand(50, dtype=torch.float64) * math.pi / 2
    moved = jitter_on_sphere(z, 3 * e, angle)
    assert torch.allclose(moved.norm(dim=1), torch.ones(50, dtype=torch.float64))
    assert torch.allclose(torch.arccos((moved * z).sum(1).clamp(-1, 1)), angle, atol=1e-6)
    assert torch.allclose(jitter_on_sphere(z, e, torch.zeros(50, dtype=torch.float64)), z)


def test_the_sphere_encoders_consistency_terms_by_hand():
    from isogen.losses import latent_consistency, pixel_consistency

    far, near = torch.rand(4, 1, 28, 28, requires_grad=True), torch.rand(4, 1, 28, 28, requires_grad=True)
    value = pixel_consistency(far, near)
    assert value.item() == pytest.approx(((far - near) ** 2).sum().item() / 4, rel=1e-6)
    value.backward()
    assert near.grad is None and far.grad is not None  # the nearer point's image is the target
    z = F.normalize(torch.randn(5, 8), dim=1)
    assert latent_consistency(z, z).item() == pytest.approx(0, abs=1e-6)
    assert latent_consistency(-z, z).item() == pytest.approx(16.0)  # dim x (1 - cos) with cos = -1
