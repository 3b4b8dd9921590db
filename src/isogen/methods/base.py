"""What every method shares: the loss interface, the weighting of terms, its latent geometry and samplers."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..augment import random_affine
from ..config import Config
from ..geometry import EUCLIDEAN, SPHERE, Geometry
from ..models import LatentModel, build_model
from ..samplers import Sampler, build_samplers


class Method(nn.Module):
    """A training objective over a LatentModel.

    `loss` returns the raw value of each named term (the decoder's among them); `weights` scales them
    into the total (a term without a weight counts once). Modules hold state (SIGReg's tables); losses
    hold math.
    """

    geometry: ClassVar[Geometry] = SPHERE  # where the codes live
    posterior: ClassVar[bool] = False  # the encoder outputs (mean, log-variance)
    default_samplers: ClassVar[tuple[str, ...]] = ("prior", "matched")  # the first draws the run's pictures

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.weights: dict[str, float] = {}
        self.sampler_names = config.sampler_names() or list(self.default_samplers)
        self.samplers()  # unknown or inapplicable sampler names fail here, before anything runs

    def loss(self, model: LatentModel, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called by the training loop before each epoch: schedules of the loss weights live here."""

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights.get(name, 1.0) * value for name, value in terms.items())

    def samplers(self) -> dict[str, Sampler]:
        """Unfitted samplers of this run's codes, by name."""
        return build_samplers(self.config, self.geometry, self.sampler_names)

    def build_model(self) -> LatentModel:
        return build_model(self.config, self.geometry, self.posterior)


class Contrastive(Method):
    """Encoder trained on two random affine views; decoder on stop-gradient codes of clean images."""

    def __init__(self, config: Config):
        super().__init__(config)
        self.ranges = config.affine_ranges()

    def embedding_terms(self, h: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """h: (2N, H), the two views stacked; the method's objective on them."""
        raise NotImplementedError

    def loss(self, model, x, generator):
        views = torch.cat([random_affine(x, self.ranges, generator), random_affine(x, self.ranges, generator)])
        terms = self.embedding_terms(model.features(views), generator)  # views: (2N, 1, 28, 28)
        with torch.no_grad():  # the decoder must not shape the encoder
            z = model.encode(x)  # (N, D)
        return terms | model.decoder.loss(z, x)


class Autoencoder(Method):
    """Encoder and decoder trained together on reconstruction of clean images, plus a regulariser."""

    geometry = EUCLIDEAN

    def regularize(self, h: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        """h: (N, H) -> the code to decode (N, D) and the regulariser's terms."""
        return h, {}

    def loss(self, model, x, generator):
        z, terms = self.regularize(model.features(x), generator)
        return terms | model.decoder.loss(z, x)
