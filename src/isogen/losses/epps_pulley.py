"""The Epps-Pulley goodness-of-fit statistic on 1-D projections.

For samples u_1..u_N of one projection, with empirical CF psi(t) = mean_n exp(i t u_n):
    T = N * integral_R |psi(t) - phi(t)|^2 w(t) dt,   w(t) = exp(-t^2 / 2),
    |psi - phi|^2 = (mean_n cos(t u_n) - phi(t))^2 + (mean_n sin(t u_n))^2   (phi real and even).
The integrand is even, so the integral is twice a trapezoid rule on [0, t_max].
Target phi: the N(0,1) CF exp(-t^2/2), or the exact CF of sqrt(D) a.z for z uniform on S^{D-1}.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import torch

from .batch import LOCAL, Batch


def epps_pulley(u: torch.Tensor, knots: torch.Tensor, weights: torch.Tensor,
                target_cf: torch.Tensor, batch: Batch = LOCAL) -> torch.Tensor:
    """u: (N, M) samples of M projections; knots, weights, target_cf: (K,). Returns T: (M,).
    The empirical CF is the whole batch's: the means of cos and sin are taken over every process's rows."""
    n = batch.rows(u.shape[0])
    tu = u[:, :, None] * knots  # (N, M, K)
    error = (batch.mean(tu.cos()) - target_cf) ** 2 + batch.mean(tu.sin()) ** 2  # (M, K)
    return n * (error @ weights)  # (M,)


def trapezoid_grid(t_max: float, num_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """Knots t_k on [0, t_max] and weights that integrate an even f over R: sum_k w_k f(t_k).

    The weights include w(t) = exp(-t^2/2) and the factor 2 from symmetry.
    """
    t = np.linspace(0.0, t_max, num_knots)
    trap = np.full(num_knots, t_max / (num_knots - 1))
    trap[[0, -1]] /= 2
    return t, 2 * trap * np.exp(-t**2 / 2)


def gauss_cf(t: np.ndarray) -> np.ndarray:
    return np.exp(-np.asarray(t, dtype=np.float64) ** 2 / 2)


def sphere_cf(t: np.ndarray, dim: int) -> np.ndarray:
    """CF of sqrt(D) a.z for z uniform on S^{D-1} and a fixed unit a:
        Omega_D(t) = Gamma(D/2) (2/s)^{D/2-1} J_{D/2-1}(s),  s = t sqrt(D),
    written as the confluent limit function 0F1(; D/2; -s^2/4). scipy's 0F1 overflows to NaN for
    D in the thousands, so it is evaluated in arbitrary precision (a table of K values, built once).
    """
    s = np.asarray(t, dtype=np.float64) * math.sqrt(dim)
    return np.array([float(mpmath.hyp0f1(dim / 2, -(v**2) / 4)) for v in s.ravel()]).reshape(s.shape)


def epps_pulley_closed_form(x: torch.Tensor) -> torch.Tensor:
    """The exact T (integral over all of R) against N(0,1), for x: (N, M) -> (M,):
        T = sqrt(2 pi) [ (1/N) sum_{j,k} exp(-(x_j - x_k)^2 / 2) - sqrt(2) sum_j exp(-x_j^2 / 4) + N / sqrt(3) ].
    O(N^2): a reference for tests and for calibrating the quadrature, not for training.
    """
    n = x.shape[0]
    pair = torch.exp(-((x[:, None, :] - x[None, :, :]) ** 2) / 2).sum((0, 1)) / n  # (M,)
    single = torch.exp(-x**2 / 4).sum(0)  # (M,)
    return math.sqrt(2 * math.pi) * (pair - math.sqrt(2) * single + n / math.sqrt(3))


# E[T] under the null, for every N (integral over R): sqrt(2 pi) (1 - 1/sqrt(3)).
NULL_MEAN = math.sqrt(2 * math.pi) * (1 - 1 / math.sqrt(3))
