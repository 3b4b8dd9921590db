"""Comparing two arms over seeds: paired differences with confidence intervals, Holm's correction.

A study trains every arm on the same seeds, so arm A's run with seed s and arm B's run with seed s share
their data order and initial randomness; the comparison is the per-seed difference d_s = a_s - b_s:
    mean d̄,  standard error se = sd(d) / sqrt(n),  95% interval d̄ ± t_{n-1, 0.975} se,
    p = 2 P(T_{n-1} > |d̄| / se)   (the paired t-test).
Across the questions of a report, Holm's step-down method controls the family-wise error: sort the m
p-values ascending, p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Difference:
    mean: float  # of a - b over the paired seeds
    low: float  # the confidence interval
    high: float
    p: float  # two-sided paired t-test
    n: int  # paired seeds

    def __str__(self) -> str:
        return f"{self.mean:+.4g} [{self.low:+.4g}, {self.high:+.4g}]"


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = 0.95) -> Difference | None:
    """Arms a and b as {seed: value}; the difference over the seeds both have (None below two of them)."""
    seeds = sorted(s for s in a.keys() & b.keys() if _finite(a[s]) and _finite(b[s]))
    if len(seeds) < 2:
        return None
    d = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    n, mean = len(d), float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0:  # every seed moved by the same amount: no spread to test against
        return Difference(mean, mean, mean, 1.0 if mean == 0 else 0.0, n)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Difference(mean, mean - half, mean + half, p, n)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    m, adjusted, running = len(p_values), [0.0] * len(p_values), 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
