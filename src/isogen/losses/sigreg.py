"""SIGReg (Balestriero & LeCun 2025, arXiv 2511.08544): the mean Epps-Pulley statistic over fresh random 1-D
projections.

Sphere form (this project's): z = h / ||h||, u_nm = sqrt(D) a_m . z_n with a_m uniform
on S^{D-1}; under a uniform sphere u is ~N(0,1) (exactly: its CF is the Bessel Omega_D).
Euclidean form (LeJEPA): u_nm = a_m . h_n on raw embeddings, tested against N(0,1).
    L_SIGReg = (1/M) sum_m T_m.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .batch import LOCAL, Batch
from .epps_pulley import epps_pulley, gauss_cf, sphere_cf, trapezoid_grid

if TYPE_CHECKING:  # losses import nothing of the project at run time; the geometry is passed in
    from ..geometry import Geometry


class SIGReg(nn.Module):
    """`geometry.standardize` maps embeddings to the scale at which the prior's projections are ~N(0,1):
    sqrt(D) h / ||h|| on the sphere, h itself in R^D."""

    def __init__(self, geometry: Geometry, dim: int, num_slices: int = 256, target: str = "gauss",
                 t_max: float = 3.0, num_knots: int = 17):
        super().__init__()
        if target not in ("gauss", "sphere"):
            raise ValueError(f"SIGReg target must be 'gauss' or 'sphere', got {target!r}")
        if target == "sphere" and geometry.name != "sphere":
            raise ValueError(f"SIGReg target 'sphere' is the CF of a projected uniform sphere; codes in "
                             f"{geometry.name} are tested against 'gauss'")
        if dim < 1 or num_slices < 1 or num_knots < 3 or t_max <= 0:
            raise ValueError(f"SIGReg needs dim, num_slices >= 1, num_knots >= 3, t_max > 0; got "
                             f"{dim}, {num_slices}, {num_knots}, {t_max}")
        self.geometry, self.dim, self.num_slices = geometry, dim, num_slices
        knots, weights = trapezoid_grid(t_max, num_knots)
        cf = sphere_cf(knots, dim) if target == "sphere" else gauss_cf(knots)
        # Constant tables, built once; buffers so they follow the module to the device.
        self.register_buffer("knots", torch.tensor(knots, dtype=torch.float32), persistent=False)
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.register_buffer("target_cf", torch.tensor(cf, dtype=torch.float32), persistent=False)

    def draw(self, generator: torch.Generator, count: int = 1) -> torch.Tensor:
        """`count` sets of M fresh directions: (count, D, M), each column uniform on S^{D-1}."""
        directions = torch.randn(count, self.dim, self.num_slices, generator=generator, device=generator.device)
        return F.normalize(directions, dim=1)

    def forward(self, h: torch.Tensor, slices: torch.Tensor, batch: Batch = LOCAL) -> torch.Tensor:
        """h: (N, D) embeddings, slices: (D, M) directions (one set of `draw`, the same on every process)
        -> the mean statistic of the whole batch."""
        # float32 even under bf16 autocast: cos/sin of t*u and an N-fold sum need the mantissa.
        with torch.autocast(device_type=h.device.type, enabled=False):
            u = self.geometry.standardize(h.float()) @ slices  # (N, M)
            return epps_pulley(u, self.knots, self.weights, self.target_cf, batch).mean()
