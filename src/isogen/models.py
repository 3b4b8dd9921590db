"""Encoders (by name) and the deconvolutional decoder, joined in one latent-variable model.

Shapes: x (N, 1, 28, 28) in [0, 1]; h (N, H) the encoder's raw output (H = D, or 2D for a
Gaussian posterior); z (N, D) the latent code; logits (N, 1, 28, 28).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import IsogenError


def projection_head(in_features: int, hidden: int, out_dim: int) -> list[nn.Module]:
    """Linear -> BatchNorm -> ReLU -> Linear, SimCLR's projector.

    Why the BatchNorm: without it the head's inputs are all-positive ReLU features that barely differ
    between images at initialisation, so every code starts at nearly one point (mean cosine 0.995).
    From there SIGReg's statistic is ~N times its null value and its gradient, ~600x InfoNCE's, sets
    Adam's step scale for hundreds of steps while the embedding stays anisotropic.
    """
    return [nn.Linear(in_features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out_dim)]


class CNNEncoder(nn.Sequential):
    """Three convolutions (28 -> 14 -> 7 -> 7) and a projection head.

    The first convolution already strides: full-resolution feature maps would triple the cost on a CPU.
    """

    def __init__(self, out_dim: int, width: int = 32):
        w = width
        super().__init__(
            nn.Conv2d(1, w, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),  # 7x7
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.Flatten(),
            *projection_head(4 * w * 7 * 7, 8 * w, out_dim),
        )


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out
                     else nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(y)) + self.skip(x))


class ResNetEncoder(nn.Sequential):
    """A small ResNet: stem, three stages of two residual blocks (28 -> 14 -> 7), mean pool, projection head."""

    def __init__(self, out_dim: int, width: int = 32):
        w = width
        super().__init__(
            nn.Conv2d(1, w, 3, padding=1, bias=False), nn.GroupNorm(8, w), nn.ReLU(),
            ResidualBlock(w, w, 1), ResidualBlock(w, w, 1),
            ResidualBlock(w, 2 * w, 2), ResidualBlock(2 * w, 2 * w, 1),
            ResidualBlock(2 * w, 4 * w, 2), ResidualBlock(4 * w, 4 * w, 1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            *projection_head(4 * w, 8 * w, out_dim),
        )


class Decoder(nn.Sequential):
    """z (N, D) -> logits (N, 1, 28, 28): a linear map to 7x7 features, three transposed convolutions."""

    def __init__(self, embed_dim: int, width: int = 64):
        w = width
        super().__init__(
            nn.Linear(embed_dim, 2 * w * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (2 * w, 7, 7)),
            nn.ConvTranspose2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),  # 7x7
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),  # 28x28 logits
        )


ENCODERS: dict[str, Callable[[int, int], nn.Module]] = {"cnn": CNNEncoder, "resnet": ResNetEncoder}


def lookup(registry: dict, kind: str, name: str):
    """registry[name], or an error that lists the valid names."""
    if name not in registry:
        raise IsogenError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(registry)}")
    return registry[name]


class LatentModel(nn.Module):
    """Encoder + decoder over a latent space that is either the unit sphere or R^D.

    `encode` is deterministic: the normalised embedding on the sphere, the raw one in R^D,
    and the posterior mean for a Gaussian posterior (the first D outputs; the last D are log-variances).
    """

    def __init__(self, encoder: str, embed_dim: int, latent: str, posterior: bool,
                 encoder_width: int, decoder_width: int):
        super().__init__()
        if latent not in ("sphere", "euclidean"):
            raise ValueError(f"latent must be 'sphere' or 'euclidean', got {latent!r}")
        self.embed_dim, self.latent, self.posterior = embed_dim, latent, posterior
        head_dim = 2 * embed_dim if posterior else embed_dim
        self.encoder = lookup(ENCODERS, "encoder", encoder)(head_dim, encoder_width)
        self.decoder = Decoder(embed_dim, decoder_width)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (N, H)

    def to_latent(self, h: torch.Tensor) -> torch.Tensor:
        z = h[:, :self.embed_dim]  # (N, D): the posterior mean when there is a posterior
        return F.normalize(z, dim=1) if self.latent == "sphere" else z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def parameter_counts(model: LatentModel) -> dict[str, int]:
    count = lambda m: sum(p.numel() for p in m.parameters())
    return {"encoder": count(model.encoder), "decoder": count(model.decoder)}
