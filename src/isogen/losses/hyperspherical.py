"""Hyperspherical coordinates and the batch-statistic prior of the hyperspherical VAE (Ascarate,
Lebrat, Santa Cruz, Fookes, Salvado 2025, arXiv 2507.15900).

Coordinates of x in R^D, with c_j = ||(x_0, ..., x_j)|| (0-based):
    r = c_{D-1},  cos(phi_j) = x_j / c_j  for j = 1 .. D-1,
phi_j in [0, pi] for j >= 2 and phi_1 = atan2(x_0, x_1) in [0, 2 pi) carrying the sign of x_0.
The all-ones vector has cos(phi_j) = 1 / sqrt(j + 1), which motivates the paper's gains 1/sqrt(k+1).
"""
from __future__ import annotations

import math

import torch

from .batch import LOCAL, Batch


def cumulative_norms(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> c (N, D), c_j = ||x_{0..j}||."""
    return x.pow(2).cumsum(dim=1).sqrt()


def angle_cosines(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(N, D) -> cos(phi_j), j = 1 .. D-1: (N, D-1). No arccos needed (the paper's point)."""
    return x[:, 1:] / cumulative_norms(x)[:, 1:].clamp(min=eps)


def to_hyperspherical(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) -> radius (N,), angles phi_1 .. phi_{D-1} (N, D-1)."""
    c = cumulative_norms(x)
    first = torch.atan2(x[:, 0], x[:, 1]).remainder(2 * math.pi)  # (N,)
    rest = torch.acos((x[:, 2:] / c[:, 2:].clamp(min=1e-300)).clamp(-1, 1))  # (N, D-2)
    return c[:, -1], torch.cat([first[:, None], rest], dim=1)


def from_hyperspherical(radius: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Inverse of to_hyperspherical: x_j = r cos(phi_j) prod_{i > j} sin(phi_i), x_0 = r prod_{i >= 1} sin(phi_i)."""
    sin, cos = angles.sin(), angles.cos()  # (N, D-1), column j-1 holds angle j
    # tail[:, j-1] = prod_{i > j} sin(phi_i), for j = 1 .. D-1
    tail = torch.cat([sin[:, 1:].flip(1).cumprod(1).flip(1), torch.ones_like(sin[:, :1])], dim=1)
    x_rest = radius[:, None] * tail * cos  # (N, D-1): x_1 .. x_{D-1}
    x_first = radius * tail[:, 0] * sin[:, 0]  # (N,)
    return torch.cat([x_first[:, None], x_rest], dim=1)


def hyperspherical_prior_loss(mean: torch.Tensor, target_cos: float, target_cos_std: float,
                              batch: Batch = LOCAL) -> torch.Tensor:
    """Ascarate et al.'s batch-statistic loss on the posterior means, angles and radius:
        sum_k g_k [ (E_b cos phi_k - a)^2 + (std_b cos phi_k - b)^2 ] + (E_b r - sqrt D)^2 / D + std_b(r)^2 / D,
    g_k = 1 / sqrt(k + 1), k = 1 .. D-1. mean: (N, D) -> scalar. (The radius terms are divided by D
    so that they are O(1) like the angle terms.) The statistics are of the whole batch.
    """
    mean = batch.gather(mean)
    d = mean.shape[1]
    cos = angle_cosines(mean)  # (N, D-1)
    gains = 1 / torch.arange(2, d + 1, device=mean.device, dtype=mean.dtype).sqrt()  # (D-1,)
    angle_terms = gains * ((cos.mean(0) - target_cos) ** 2 + (cos.std(0) - target_cos_std) ** 2)
    radius = mean.norm(dim=1)
    return angle_terms.sum() + ((radius.mean() - math.sqrt(d)) ** 2 + radius.var()) / d
