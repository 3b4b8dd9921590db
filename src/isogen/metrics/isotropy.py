"""Isotropy and collapse of unit codes z (N, D): spectrum, spread, effective rank, resultant length,
Wang-Isola uniformity/alignment, and the Epps-Pulley statistic T against a cached null: T/N and a
Monte-Carlo p-value."""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..files import cache_dir, write_bytes
from ..geometry import SPHERE
from ..losses import SIGReg, alignment, uniformity


def spectrum(z: torch.Tensor) -> np.ndarray:
    """Eigenvalues of the covariance of z, descending, (D,)."""
    cov = torch.cov(z.double().T)
    return torch.linalg.eigvalsh(cov).flip(0).clamp(min=0).numpy()


def effective_rank(eigenvalues: np.ndarray) -> float:
    """exp(H(p)), p = lambda / sum(lambda): D for isotropic data, k for rank-k data with equal spread."""
    p = eigenvalues / eigenvalues.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def ep_null(n: int, d: int, num_slices: int = 64, draws: int = 200) -> np.ndarray:
    """`draws` mean EP statistics of truly uniform sets of n unit codes in d dimensions: the null of
    `ep_p_value`. A function of its arguments alone (its own seed), so it is computed once per (N, D) and
    cached (files.cache_dir()/ep-null)."""
    path = cache_dir() / "ep-null" / f"n{n}-d{d}-m{num_slices}-k{draws}.npy"
    if path.exists():
        try:
            null = np.load(path)
            if null.shape == (draws,):
                return null
        except (OSError, ValueError):  # a damaged cache entry is recomputed, never trusted
            pass
    generator = torch.Generator().manual_seed(1_000_003 * n + 1_009 * d + num_slices)
    statistic = SIGReg(SPHERE, d, num_slices=num_slices, target="sphere")
    null = np.array([float(statistic(SPHERE.prior(n, d, generator, torch.float32), statistic.draw(generator)[0]))
                     for _ in range(draws)])
    buffer = io.BytesIO()
    np.save(buffer, null)
    write_bytes(path, buffer.getvalue())
    return null


def ep_p_value(z: torch.Tensor, generator: torch.Generator, num_slices: int = 64,
               null_draws: int = 200) -> tuple[float, float, float]:
    """(statistic, p-value, null mean) of the mean EP statistic of unit codes against the exact sphere
    marginal on fresh slices; p is the share of `null_draws` truly uniform sets of the same N and D whose
    statistic is at least as large, (1 + #{null >= observed}) / (1 + draws). With 200 draws p cannot go
    below 1/201, so the report compares T/N (an estimate of the weighted squared distance between the
    codes' projected CF and the sphere's, comparable across N) with the null's mean over N."""
    n, d = z.shape
    statistic = SIGReg(SPHERE, d, num_slices=num_slices, target="sphere")  # its CF table is built once
    observed = float(statistic(z.float(), statistic.draw(generator)[0]))
    null = ep_null(n, d, num_slices, null_draws)
    return observed, (1 + int((null >= observed).sum())) / (1 + null_draws), float(null.mean())


def isotropy_metrics(z: torch.Tensor, z_view1: torch.Tensor, z_view2: torch.Tensor, generator: torch.Generator,
                     null_draws: int = 200, uniformity_subset: int = 5000) -> dict:
    """z: (N, D) codes of the test set (normalised here), z_view1/2: codes of two augmented views."""
    z = F.normalize(z.double(), dim=1)
    eig = spectrum(z)
    n = len(z)
    statistic, p_value, null_mean = ep_p_value(z, generator, null_draws=null_draws)
    sub = z[torch.randperm(len(z), generator=generator)[:uniformity_subset]]
    v1, v2 = F.normalize(z_view1.double(), dim=1), F.normalize(z_view2.double(), dim=1)
    return {
        "eigenvalues": eig.tolist(),
        "eigenvalue_spread": float(eig[0] / max(eig[-1], 1e-300)),
        "effective_rank": effective_rank(eig),
        "mean_resultant_length": float(z.mean(0).norm()),
        "uniformity_t2": float(uniformity(sub, 2.0)),
        "uniformity_t2_uniform_sphere": uniform_sphere_uniformity(len(sub), z.shape[1]),
        "alignment_a2": float(alignment(v1, v2, 2.0)),
        "ep_statistic": statistic,
        "ep_per_code": statistic / n,
        "ep_null_per_code": null_mean / n,
        "ep_p_value": p_value,
        "ep_null_draws": null_draws,
    }


def uniform_sphere_uniformity(n: int, d: int) -> float:
    """The reference: L_unif (t=2) of the uniform sphere in the limit of many points,
    log E[exp(-2 ||x - y||^2)] = log E[exp(-4 (1 - x.y))] = -4 + log E[exp(4 x.y)],
    with x.y distributed as the sphere marginal (density prop. to (1-s^2)^((d-3)/2))."""
    from scipy import integrate, special

    log_norm = special.gammaln(d / 2) - special.gammaln((d - 1) / 2) - 0.5 * math.log(math.pi)
    value, _ = integrate.quad(lambda s: math.exp(4 * s + log_norm) * (1 - s * s) ** ((d - 3) / 2), -1, 1)
    return -4 + math.log(value)
