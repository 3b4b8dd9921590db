"""What every method shares: the loss interface, the weighting of terms, its latent geometry and samplers.

A training step must run without reading anything from the host (so that on CUDA it can be captured
once as a graph and replayed), so a method draws all of an epoch's randomness up front:
`noise(steps, n, generator)` returns tensors whose first axis is the step, and `loss` receives the
slice of the current step. Its loss weights are buffers for the same reason: a schedule changes them
in place between epochs.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..augment import apply_affine, sample_affine
from ..config import Config
from ..errors import IsogenError
from ..geometry import EUCLIDEAN, SPHERE, Geometry
from ..losses import LOCAL, Batch
from ..models import DECODERS, LatentModel, build_model
from ..samplers import Sampler, build_samplers

Noise = dict[str, torch.Tensor]


class LossWeights(nn.Module):
    """Weights of named loss terms, as 0-d buffers (they follow the method to its device and are
    changed in place); a term without a weight counts once."""

    def __init__(self, **weights: float):
        super().__init__()
        for name, value in weights.items():
            self.register_buffer(name, torch.tensor(float(value)), persistent=False)

    def set(self, name: str, value: float) -> None:
        getattr(self, name).fill_(value)

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in self.named_buffers()}

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = dict(self.named_buffers())
        return sum(weights[name] * value if name in weights else value for name, value in terms.items())


class Method(nn.Module):
    """A training objective over a LatentModel.

    `loss` returns the raw value of each named term (the decoder's among them); `weights` scales them
    into the total. Modules hold state (SIGReg's tables); losses hold math.
    """

    geometry: ClassVar[Geometry] = SPHERE  # where the codes live
    posterior: ClassVar[bool] = False  # the encoder outputs (mean, log-variance)
    default_samplers: ClassVar[tuple[str, ...]] = ("prior", "matched")  # the first draws the run's pictures
    config_keys: ClassVar[frozenset[str]] = frozenset()  # the settings only some methods read: which it reads
    # noise drawn once per step for the whole batch, not per image: every process of a torchrun job uses
    # all of it (the rest, (steps, blocks * n, ...), is split by images)
    shared_noise: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.world: Batch = LOCAL  # the batch that statistics are taken over (isogen.distributed)
        self.weights = LossWeights()
        self.sampler_names = config.sampler_names() or list(self.default_samplers)
        self.samplers()  # unknown or inapplicable sampler names fail here, before anything runs
        if config.refine_steps and (self.geometry is not SPHERE or DECODERS[config.decoder].stochastic):
            raise IsogenError(f"refine_steps={config.refine_steps} loops encode and decode of codes on the sphere "
                              f"with a one-step decoder; {config.method} with decoder={config.decoder} is not that: "
                              "use refine_steps=0")

    # Does the decoder belong to the objective (an autoencoder's reconstruction), or does it only learn to
    # decode the codes (a contrastive method's, on stop-gradient codes)? In a two-stage run
    # (isogen.stages) the latter trains no decoder beside the encoder.
    decoder_in_objective: ClassVar[bool] = True

    def noise(self, steps: int, n: int, generator: torch.Generator) -> Noise:
        """The randomness of `steps` steps of `n` images, each tensor (steps, ...), drawn on the generator's device."""
        return {}

    def epoch_noise(self, model: LatentModel, steps: int, n: int, generator: torch.Generator) -> Noise:
        """Everything a one-stage training epoch draws: the method's randomness, then its decoder's."""
        return self.noise(steps, n, generator) | model.decoder.noise(steps, n, generator)

    def objective(self, model: LatentModel, x: torch.Tensor, noise: Noise) -> dict[str, torch.Tensor]:
        """The method's own terms (an autoencoder's include its decoder's). x (N, 1, 28, 28) in [0, 1];
        noise: one step's slice of `noise(...)`."""
        raise NotImplementedError

    def loss(self, model: LatentModel, x: torch.Tensor, noise: Noise) -> dict[str, torch.Tensor]:
        """The terms of a one-stage step: the objective, and a decoder that is not in it learning beside the
        encoder on stop-gradient codes of the clean images, so that it never shapes the encoder."""
        terms = self.objective(model, x, noise)
        if self.decoder_in_objective:
            return terms
        with torch.no_grad():
            z = model.encode(x)  # (N, D)
        return terms | model.decoder.loss(z, x, noise)

    def stage_noise(self, steps: int, n: int, generator: torch.Generator) -> Noise:
        """The randomness of `stage_code`, as `noise(...)` draws it: none unless a method decodes more than its
        cached codes."""
        return {}

    def stage_code(self, codes: torch.Tensor, noise: Noise) -> torch.Tensor:
        """What the decoder stage (isogen.stages) decodes for one step's cached codes: by default the codes. A
        method whose code is a distribution (a VAE's posterior) decodes a draw of it, as its own objective does,
        so its decoder goes on learning what its prior asks of it."""
        return codes

    def start_epoch(self, epoch: int) -> None:
        """Called by the training loop before each epoch: schedules of the loss weights live here."""

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.weights.total(terms)

    def samplers(self) -> dict[str, Sampler]:
        """Unfitted samplers of this run's codes, by name."""
        return build_samplers(self.config, self.geometry, self.sampler_names)

    def build_model(self) -> LatentModel:
        return build_model(self.config, self.geometry, self.posterior)


class Contrastive(Method):
    """Encoder trained on two random affine views; decoder on stop-gradient codes of clean images."""

    decoder_in_objective = False
    config_keys = frozenset({"rotation_deg", "translate_px", "scale_frac", "shear_deg", "clean_view"})

    def __init__(self, config: Config):
        super().__init__(config)
        self.ranges = config.affine_ranges()

    def noise(self, steps, n, generator):
        # two views of every image: 2n inverse affine maps per step, [view 1 of all; view 2 of all]
        theta = sample_affine(steps * 2 * n, 28, 28, self.ranges, generator, generator.device).view(steps, 2 * n, 2, 3)
        if self.config.clean_view:  # drawn all the same, so the second views are those of the default
            theta[:, :n] = torch.eye(2, 3, device=theta.device)
        return {"views": theta}

    def embedding_terms(self, h: torch.Tensor, noise: Noise) -> dict[str, torch.Tensor]:
        """h: (2N, H), the two views stacked; the method's objective on them."""
        raise NotImplementedError

    def objective(self, model, x, noise):
        views = apply_affine(x.repeat(2, 1, 1, 1), noise["views"])  # (2N, 1, 28, 28)
        return self.embedding_terms(model.features(views), noise)


class Autoencoder(Method):
    """Encoder and decoder trained together on reconstruction of clean images, plus a regulariser."""

    geometry = EUCLIDEAN

    def regularize(self, h: torch.Tensor, noise: Noise) -> tuple[torch.Tensor, dict]:
        """h: (N, H) -> the code to decode (N, D) and the regulariser's terms."""
        return h, {}

    def objective(self, model, x, noise):
        z, terms = self.regularize(model.features(x), noise)
        return terms | model.decoder.loss(z, x, noise)

