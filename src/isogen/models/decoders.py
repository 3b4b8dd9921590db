"""Decoders p(x | z): a decoder owns its training loss and the way it draws images.

    noise(steps, n, generator)  the decoder's randomness for an epoch of training steps (first axis: step),
                                drawn up front like the method's (see isogen.methods.base); {} if none
    loss(z, x, noise)           z (N, D) codes, x (N, 1, 28, 28) in [0, 1], noise: one step's slice
                                -> dict of named scalar terms
    after_step()                device-only bookkeeping after each optimiser step (an EMA), or nothing
    generate(z, generator, noise_group=1)
                                z (N, D) -> images (N, 1, 28, 28) in [0, 1]; a deterministic decoder
                                returns its mean and ignores the generator, a stochastic one draws from
                                it (a CPU generator: draw there, then move); consecutive groups of
                                noise_group rows share one draw (the frames of a path then differ only
                                by their codes)

Every decoder is built by `cls.from_config(config)`; register a new one in `isogen.models.DECODERS`.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..config import Config
from ..losses import reconstruction_bce


class Decoder(nn.Module):
    stochastic: ClassVar[bool] = False  # does generate() draw, so that two calls can differ?
    config_keys: ClassVar[frozenset[str]] = frozenset()  # the settings it reads beyond its width

    @classmethod
    def from_config(cls, config: Config) -> Decoder:
        raise NotImplementedError

    def noise(self, steps: int, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {}

    def loss(self, z: torch.Tensor, x: torch.Tensor, noise: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_step(self) -> None:
        pass

    def generate(self, z: torch.Tensor, generator: torch.Generator | None = None,
                 noise_group: int = 1) -> torch.Tensor:
        raise NotImplementedError


class DeconvDecoder(Decoder, nn.Sequential):
    """A Bernoulli decoder: z (N, D) -> a linear map to 7x7 features, three transposed convolutions to
    28x28 logits; trained by the Bernoulli negative log-likelihood (BCE), generating the mean sigmoid(logits)."""

    def __init__(self, embed_dim: int, width: int = 64):
        w = width
        super().__init__(
            nn.Linear(embed_dim, 2 * w * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (2 * w, 7, 7)),
            nn.ConvTranspose2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),  # 7x7
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),  # 28x28 logits
        )

    @classmethod
    def from_config(cls, config):
        return cls(config.embed_dim, config.decoder_width)

    def loss(self, z, x, noise):
        return {"recon_bce": reconstruction_bce(self(z), x)}

    def generate(self, z, generator=None, noise_group=1):
        return torch.sigmoid(self(z).float())
