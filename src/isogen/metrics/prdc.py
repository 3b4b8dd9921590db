"""Manifold precision / recall (Kynkaanniemi et al. 2019) and density / coverage (Naeem et al. 2020).

With B(x, r) the ball at x whose radius r is the distance to its k-th nearest neighbour in its own set:
  precision = share of fakes inside some real ball,  recall = share of reals inside some fake ball,
  density = (1 / kM) sum_fakes #{real balls holding the fake},  coverage = share of real balls holding a fake.
"""
from __future__ import annotations

import numpy as np
import torch


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, F) -> (N,) distance to the k-th nearest other point."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict:
    real_t, fake_t = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    cross = torch.cdist(real_t, fake_t)  # (R, F)
    real_r3, fake_r3 = kth_neighbour_radius(real_t, k_pr), kth_neighbour_radius(fake_t, k_pr)
    real_r5 = kth_neighbour_radius(real_t, k_dc)
    inside_real5 = cross <= real_r5[:, None]  # (R, F): fake j inside real ball i
    return {
        "precision": float((cross <= real_r3[:, None]).any(0).double().mean()),
        "recall": float((cross <= fake_r3[None, :]).any(1).double().mean()),
        "density": float(inside_real5.sum().double() / (k_dc * len(fake_t))),
        "coverage": float(inside_real5.any(1).double().mean()),
    }
