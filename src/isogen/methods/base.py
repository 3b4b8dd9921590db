"""What every method shares: the loss interface, the weighting of terms, its samplers."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..augment import AffineRanges, random_affine
from ..config import Config
from ..losses import reconstruction_bce
from ..models import LatentModel
from ..samplers import Sampler, make_sampler


class Method(nn.Module):
    """A training objective over a LatentModel.

    `loss` returns the raw value of each named term; `weights` scales them into the total
    (a term without a weight counts once). Modules hold state (SIGReg's tables); losses hold math.
    """

    latent: ClassVar[str] = "sphere"  # "sphere" or "euclidean": where codes live
    posterior: ClassVar[bool] = False  # the encoder outputs (mean, log-variance)
    sampler_names: ClassVar[tuple[str, ...]] = ("prior", "matched")

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.weights: dict[str, float] = {}

    def loss(self, model: LatentModel, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called by the training loop before each epoch: schedules of the loss weights live here."""

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights.get(name, 1.0) * value for name, value in terms.items())

    def samplers(self) -> dict[str, Sampler]:
        c = self.config
        return {name: make_sampler(name, c.embed_dim, self.latent == "sphere", c.gmm_components, c.seed)
                for name in self.sampler_names}

    def build_model(self) -> LatentModel:
        c = self.config
        return LatentModel(c.encoder, c.embed_dim, self.latent, self.posterior, c.encoder_width, c.decoder_width)


class Contrastive(Method):
    """Encoder trained on two random affine views; decoder on stop-gradient codes of clean images."""

    def __init__(self, config: Config):
        super().__init__(config)
        self.ranges = AffineRanges(config.rotation_deg, config.translate_px, config.scale_frac, config.shear_deg)

    def embedding_terms(self, h: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """h: (2N, H), the two views stacked; the method's objective on them."""
        raise NotImplementedError

    def loss(self, model, x, generator):
        views = torch.cat([random_affine(x, self.ranges, generator), random_affine(x, self.ranges, generator)])
        terms = self.embedding_terms(model.features(views), generator)  # views: (2N, 1, 28, 28)
        with torch.no_grad():  # the decoder must not shape the encoder
            z = model.encode(x)  # (N, D)
        terms["recon_bce"] = reconstruction_bce(model.decode(z), x)
        return terms


class Autoencoder(Method):
    """Encoder and decoder trained together on reconstruction of clean images, plus a regulariser."""

    latent = "euclidean"

    def regularize(self, h: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        """h: (N, H) -> the code to decode (N, D) and the regulariser's terms."""
        return h, {}

    def loss(self, model, x, generator):
        z, terms = self.regularize(model.features(x), generator)
        terms["recon_bce"] = reconstruction_bce(model.decode(z), x)
        return terms
