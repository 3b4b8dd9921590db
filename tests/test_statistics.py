"""Paired differences and Holm's correction against scipy and hand-worked answers."""
import numpy as np
import pytest
from scipy import stats

from isogen.statistics import holm, paired_difference


def test_paired_difference_is_scipys_paired_t_test_and_its_interval():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 5)
    b = a - rng.normal(0.3, 0.2, 5)
    d = paired_difference(dict(enumerate(a)), dict(enumerate(b)))
    assert d.n == 5 and d.mean == pytest.approx(float(np.mean(a - b)))
    assert d.p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(a - b), scale=stats.sem(a - b))
    assert (d.low, d.high) == pytest.approx((low, high), rel=1e-10)


def test_seeds_pair_by_name_and_missing_values_drop_out():
    d = paired_difference({0: 1.0, 1: 2.0, 2: 4.0, 7: 9.0}, {2: 1.0, 1: 1.5, 0: 0.0, 3: 5.0})
    assert d.n == 3 and d.mean == pytest.approx((1.0 + 0.5 + 3.0) / 3)
    assert paired_difference({0: 1.0, 1: float("nan")}, {0: 0.0, 1: 1.0}) is None  # one usable seed
    exact = paired_difference({0: 2.0, 1: 3.0}, {0: 1.0, 1: 2.0})  # the same shift in every seed
    assert (exact.mean, exact.low, exact.high, exact.p) == (1.0, 1.0, 1.0, 0.0)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_holm_controls_the_family_wise_error_under_the_null():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=(4000, 6))  # six true null hypotheses per family
    rejected = np.array([min(holm(list(row))) < 0.05 for row in p])
    assert rejected.mean() < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def test_the_report_states_each_declared_endpoint_with_its_interval_and_holm():
    from isogen.metrics.evaluate import EvalOptions
    from isogen.report import endpoint_table, endpoint_tests
    from isogen.study import RunPlan

    mse = {"sigreg-sphere": [0.030, 0.032, 0.031], "infonce": [0.040, 0.041, 0.043], "vae": [0.02, 0.02, 0.02]}
    ep = {"sigreg-sphere": [30.0, 35.0, 33.0], "infonce-uniform": [40.0, 36.0, 44.0]}
    def row(label, seed, metrics, varied=None, dim=32):
        return {"run": RunPlan(f"{label}-{seed}", label, dim, seed, varied, {}, "", EvalOptions()), "metrics": metrics}

    rows = [row(label, seed, {"reconstruction": {"mse_per_pixel": mse[label][seed]},
                              **({"isotropy": {"ep_per_code": ep[label][seed]}} if label in ep else {})})
            for label in mse for seed in range(3)] + [
            row("infonce-uniform", seed, {"isotropy": {"ep_per_code": ep["infonce-uniform"][seed]}})
            for seed in range(3)] + [row("infonce", 0, {}, ("lr", 0.1))]
    other_dim = [row(label, seed, {"reconstruction": {"mse_per_pixel": 2 * mse[label][seed]}}, dim=8)
                 for label in ("sigreg-sphere", "infonce") for seed in range(2)]
    assert endpoint_tests(rows + other_dim, [32]) == endpoint_tests(rows, [32])  # a family is one D's
    [(question, *_, dim, secondary, p)] = endpoint_tests(rows + other_dim, [8])
    assert (question, dim, secondary.n) == ("Q1", 8, 2) and p == secondary.p  # adjusted within its own family
    header, body = endpoint_table(endpoint_tests(rows, [32]))
    assert [line[0] for line in body] == ["Q1", "Q4"]  # no generation metrics here: Q2, Q3, Q5 have no numbers
    q1, q4 = (paired_difference(dict(enumerate(values["sigreg-sphere"])), dict(enumerate(values[other])))
              for values, other in ((mse, "infonce"), (ep, "infonce-uniform")))
    assert body[0][2] == "sigreg-sphere − infonce" and body[0][5] == str(q1) and body[0][6] == f"{q1.p:.3g}"
    assert [line[7] for line in body] == [f"{p:.3g}" for p in holm([q1.p, q4.p])]


@pytest.mark.parametrize("order, rho", [(1, "1.000"), (-1, "-1.000")])
def test_the_report_states_how_the_two_generation_metrics_rank_the_runs(order, rho):
    from isogen.report import agreement

    prior = [{"classifier_fid": 100.0 + k, "inception_kid": 0.05 + order * k / 100, "n": 200, "inception_kid_n": 50}
             for k in range(5)]
    rows = [{"metrics": {"generation": {"prior": p}}} for p in prior]
    fewer = {"classifier_fid": 1.0, "inception_kid": 1.0, "n": 100, "inception_kid_n": 50}  # would break the order
    rows.append({"metrics": {"generation": {"prior": fewer}}})
    assert (f"FID (n = 200) and Inception KID (n = 50) of the prior samples over the 5 runs judged at those n: "
            f"rho = {rho} ") in agreement(rows, 200, 50)
    assert agreement(rows[:2], 200, 50) is None  # too few runs to rank
