"""Where codes live: the unit sphere S^{D-1} or all of R^D.

Every part of isogen that depends on the latent space asks one of these two objects instead of
testing a flag: the model (`normalize` its raw embedding into a code), SIGReg (`standardize` codes so
that under the prior every 1-D projection has unit variance), the samplers (`prior` draws, and
`normalize` for densities fitted to the codes) and the paths between codes (`interpolate`).
Shapes: z (N, D); paths (P, S, D) for P pairs and S steps.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class Geometry:
    name: str
    lerp_name: str  # what a straight-line path is called in figure titles
    shared_midpoint: bool  # lerp and slerp pass through the same point at t = 1/2

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Map raw vectors onto the latent space."""
        raise NotImplementedError

    def standardize(self, z: torch.Tensor) -> torch.Tensor:
        """Scale codes so that under the prior each 1-D projection a.z (||a|| = 1) has variance 1."""
        raise NotImplementedError

    def prior(self, n: int, dim: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """(n, D) draws of the prior on `generator`'s device: N(0, I), normalised on the sphere."""
        return self.normalize(torch.randn(n, dim, generator=generator, dtype=dtype, device=generator.device))

    def interpolate(self, z1: torch.Tensor, z2: torch.Tensor, steps: int, mode: str) -> torch.Tensor:
        """Paths from z1 to z2, (P, D) each -> (P, S, D), ends included.

        lerp: (1-t) z1 + t z2, re-normalised on the sphere. slerp: constant angular speed along the great
        circle between the directions; in R^D the norm is interpolated linearly along it.
        """
        t = torch.linspace(0, 1, steps, device=z1.device)[None, :, None]  # (1, S, 1)
        a, b = z1[:, None, :], z2[:, None, :]  # (P, 1, D)
        if mode == "lerp":
            return self.normalize((1 - t) * a + t * b)
        if mode != "slerp":
            raise ValueError(f"interpolation mode must be 'lerp' or 'slerp', got {mode!r}")
        na, nb = a.norm(dim=2, keepdim=True), b.norm(dim=2, keepdim=True)  # (P, 1, 1)
        ua, ub = a / na, b / nb
        omega = torch.acos((ua * ub).sum(2, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))  # (P, 1, 1)
        arc = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)  # unit, (P, S, D)
        return self.scale_arc(arc, (1 - t) * na + t * nb)

    def scale_arc(self, arc: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        """The point of a slerp path given its unit direction and the linearly interpolated norm."""
        raise NotImplementedError


class Sphere(Geometry):
    """S^{D-1}: codes are unit vectors; the prior is uniform. Lerp-then-normalise and slerp trace the
    same great-circle arc (at different speeds), so their midpoints coincide."""

    name, lerp_name, shared_midpoint = "sphere", "lerp-normalize", True

    def normalize(self, z):
        return F.normalize(z, dim=-1)

    def standardize(self, z):
        # a.z of a uniform unit z has variance 1/D
        return F.normalize(z, dim=1) * math.sqrt(z.shape[1])

    def scale_arc(self, arc, norm):
        return arc


class Euclidean(Geometry):
    """R^D: codes are used as they are; the prior is N(0, I)."""

    name, lerp_name, shared_midpoint = "euclidean", "lerp", False

    def normalize(self, z):
        return z

    def standardize(self, z):
        return z

    def scale_arc(self, arc, norm):
        return arc * norm


SPHERE, EUCLIDEAN = Sphere(), Euclidean()
GEOMETRIES: dict[str, Geometry] = {g.name: g for g in (SPHERE, EUCLIDEAN)}
