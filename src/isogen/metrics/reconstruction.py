"""How well the decoder inverts the encoder on held-out digits."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_errors(reconstructions: torch.Tensor, targets: torch.Tensor) -> dict:
    """Per-pixel mean squared error and binary cross-entropy, in float64; both (N, 1, 28, 28) in [0, 1]."""
    recon, target = reconstructions.double(), targets.double()
    bce = F.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), target)
    return {"mse_per_pixel": float(((recon - target) ** 2).mean()), "bce_per_pixel": float(bce)}
