"""The latent-variable model: an encoder into a latent geometry and a decoder out of it.

Shapes: x (N, 1, 28, 28) in [0, 1]; h (N, H) the encoder's raw output (H = D, or 2D for a Gaussian
posterior); z (N, D) the code.
"""
from __future__ import annotations

import torch
from torch import nn

from ..geometry import Geometry
from .decoders import Decoder


def head_dim(embed_dim: int, posterior: bool) -> int:
    """H, the width of the encoder's output: the code's D, or a Gaussian posterior's means and log-variances."""
    return 2 * embed_dim if posterior else embed_dim


class LatentModel(nn.Module):
    """`encode` is deterministic: the geometry's normalisation of the embedding, and for a Gaussian
    posterior that of its mean (the first D outputs; the last D are log-variances)."""

    def __init__(self, encoder: nn.Module, decoder: Decoder, geometry: Geometry, embed_dim: int, posterior: bool):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.geometry, self.embed_dim, self.posterior = geometry, embed_dim, posterior

    @property
    def head_dim(self) -> int:
        return head_dim(self.embed_dim, self.posterior)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (N, H)

    def to_latent(self, h: torch.Tensor) -> torch.Tensor:
        return self.geometry.normalize(h[:, :self.embed_dim])  # (N, D)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in part.parameters() if p.requires_grad)  # an EMA copy is not counted
                for name, part in (("encoder", self.encoder), ("decoder", self.decoder))}
