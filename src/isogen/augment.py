"""Random affine views of a whole batch in one `affine_grid` + `grid_sample` call."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineRanges:
    rotation_deg: float = 12.0  # angle ~ U(-r, r)
    translate_px: float = 2.0  # shift ~ U(-t, t) pixels on each axis
    scale_frac: float = 0.1  # scale ~ U(1 - s, 1 + s)
    shear_deg: float = 8.0  # shear angle ~ U(-h, h)


def random_affine(x: torch.Tensor, ranges: AffineRanges, generator: torch.Generator) -> torch.Tensor:
    """x: (N, C, H, W) float -> (N, C, H, W), each image under its own random affine map."""
    n, _, h, w = x.shape
    return apply_affine(x, sample_affine(n, h, w, ranges, generator, x.device))


def apply_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """x: (N, C, H, W), theta: (N, 2, 3) maps output coordinates (normalised to [-1, 1]) to input
    coordinates; bilinear, zeros from outside (MNIST's background)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def sample_affine(n: int, h: int, w: int, ranges: AffineRanges, generator: torch.Generator,
                  device: torch.device) -> torch.Tensor:
    """(N, 2, 3) inverse maps [A | b], A = R(angle) . Shear(shear) / scale, b a shift."""

    def uniform(half_width: float) -> torch.Tensor:  # (N,)
        return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width

    angle = uniform(math.radians(ranges.rotation_deg))
    shear = uniform(math.radians(ranges.shear_deg))
    scale = 1 + uniform(ranges.scale_frac)
    shift = torch.stack([uniform(2 * ranges.translate_px / w), uniform(2 * ranges.translate_px / h)], 1)  # (N, 2)
    cos, sin, tan = angle.cos(), angle.sin(), shear.tan()
    a = torch.stack([
        torch.stack([cos, cos * tan - sin], 1),
        torch.stack([sin, sin * tan + cos], 1),
    ], 1) / scale[:, None, None]  # (N, 2, 2)
    return torch.cat([a, shift[:, :, None]], 2)  # (N, 2, 3)
