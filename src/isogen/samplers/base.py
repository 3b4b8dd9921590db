"""The sampler interface: built by name from the config, `fit` once on the training codes, `sample` codes.

    fit(codes, device, generator, budget_steps)  codes (N, D) of the training images; a sampler that
                                                 trains may take up to `budget_steps` optimisation steps
    sample(n, generator)                         (n, D) float32 codes on the fitted device

A sampler is a module: its fitted parameters are buffers (or a network), so the run folder saves it
with `state_dict` and `isogen sample | interpolate | eval` load it instead of fitting again. Until a
fit or a load, buffers are placeholders on the meta device (a shape, no memory: a matched Gaussian at
D = 100,000 would otherwise take 80 GB before anything is known to fit); both replace them. The
closed-form samplers fit and draw in float64 on the CPU from a CPU generator, so their draws are the
same on every device.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..config import Config
from ..errors import IsogenError
from ..geometry import Geometry


class Sampler(nn.Module):
    geometries: ClassVar[tuple[str, ...]] = ("sphere", "euclidean")  # latent spaces it applies to
    needs_fit: ClassVar[bool] = True  # False for a fixed prior
    config_keys: ClassVar[frozenset[str]] = frozenset()  # the settings it reads (isogen.methods.base.check_keys)

    def __init__(self, geometry: Geometry, config: Config):
        super().__init__()
        self.geometry, self.dim = geometry, config.embed_dim
        self.device = torch.device("cpu")
        self.register_buffer("fitted", torch.tensor(not self.needs_fit))

    def placeholder(self, name: str, *shape: int) -> None:
        """Register a float64 buffer of this shape that `estimate` or `load_state_dict` will fill."""
        self.register_buffer(name, torch.empty(shape, dtype=torch.float64, device="meta"))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = True):
        # assign: adopt the saved tensors in place of the meta placeholders (a copy into meta is lost)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def fit(self, codes: torch.Tensor, device: torch.device | str, generator: torch.Generator,
            budget_steps: int) -> Sampler:
        self.estimate(codes, generator, budget_steps)
        self.fitted.fill_(True)
        return self.placed(device)

    def placed(self, device: torch.device | str) -> Sampler:
        """Where `sample` returns its codes (a sampler that holds a network moves it there too)."""
        self.device = torch.device(device)
        return self

    def estimate(self, codes: torch.Tensor, generator: torch.Generator, budget_steps: int) -> None:
        """Fit the parameters to codes (N, D)."""

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, D) points of the latent space (on the sphere: unit vectors)."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if not self.fitted:
            raise IsogenError(f"the {type(self).__name__} sampler is not fitted; fit it to training codes first")
        return self.draw(n, generator).float().to(self.device)
