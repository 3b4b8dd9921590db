"""The stages of a run: what one stretch of training trains, on what, with which randomness.

A run trains its method for `epochs` (the encoder stage), then, with `decoder_epochs`, its decoder alone on
the frozen encoder's cached codes (the decoder stage). The engine runs whichever stage it is given; the run
(isogen.train) owns the stage and swaps it at the boundary.

    EncoderStage  the method's objective. A contrastive method's decoder is not part of it: in a one-stage
                  run it learns beside the encoder on stop-gradient codes; in a two-stage run the encoder
                  trains alone here and the decoder in the next stage. An autoencoder's decoder is its
                  objective's, so it trains here in either case, and again in the decoder stage.
    DecoderStage  the encoder frozen (eval mode: BatchNorm keeps its moments); the decoder learns to decode
                  the codes of the clean training images, read from a device buffer by image index (a step
                  never runs the encoder), by its own loss, with its own optimiser and schedule (peaking at
                  decoder_lr when it is set). It decodes the method's stage_code of them: the codes
                  as they are, or for a VAE a fresh draw of each posterior (the buffer then holds the
                  posteriors), as its own objective decodes.

Every stage: `noise(model, steps, n, generator)` its epoch's randomness (first axis: the step),
`loss(model, x, index, noise)` the named terms of one step (x the batch's images, index their positions in
the training split), `total(terms)`, `start_epoch(model, epoch)`, `after_step(model)`, the `trained` part,
its epochs [first_epoch, first_epoch + epochs) and its schedule's peak learning rate `peak_lr`.
"""
from __future__ import annotations

import torch
from torch import nn

from .methods import Method
from .methods.base import Noise
from .models import LatentModel


class EncoderStage:
    name = "encoder"

    def __init__(self, method: Method):
        self.method, self.shared_noise = method, method.shared_noise
        self.first_epoch, self.epochs, self.peak_lr = 0, method.config.epochs, method.config.lr
        # a decoder outside the objective waits for the decoder stage when there is one
        self.decoder_beside = method.decoder_in_objective or not method.config.decoder_epochs

    def trained(self, model: LatentModel) -> nn.Module:
        return model if self.decoder_beside else model.encoder

    def noise(self, model: LatentModel, steps: int, n: int, generator: torch.Generator) -> Noise:
        if self.decoder_beside:
            return self.method.epoch_noise(model, steps, n, generator)
        return self.method.noise(steps, n, generator)

    def loss(self, model: LatentModel, x: torch.Tensor, index: torch.Tensor, noise: Noise) -> dict[str, torch.Tensor]:
        if self.decoder_beside:
            return self.method.loss(model, x, noise)
        return self.method.objective(model, x, noise)

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.method.total(terms)

    def start_epoch(self, model: LatentModel, epoch: int) -> None:
        self.method.start_epoch(epoch)
        model.train()

    def after_step(self, model: LatentModel) -> None:
        if self.decoder_beside:
            model.decoder.after_step()


class DecoderStage:
    """The decoder alone on `codes`, the frozen encoder's codes of the training split on the device, so Question
    1 compares codes rather than how long each decoder trained beside a moving encoder: (n_train, D), or for a
    posterior method (n_train, 2D) the posteriors' means and log-variances. Each step decodes the method's
    stage_code of them. Why a VAE decodes draws, not its means: its prior fills the directions its posteriors
    leave at N(0, 1) (KL-collapsed); a decoder retrained on the means sees only zeros there and breaks on prior
    samples (study-cpu's first VAE runs at D = 64: seed 0 used 25 of 64 directions; prior classifier FID 435
    and 401 at seeds 0-1 against 37 and 36 for a GMM of the means; results/bench/decoder-stage/decoder-stage.md)."""

    name = "decoder"
    shared_noise: frozenset[str] = frozenset()

    def __init__(self, method: Method, codes: torch.Tensor):
        self.method, self.codes = method, codes
        self.first_epoch, self.epochs = method.config.epochs, method.config.decoder_epochs
        self.peak_lr = method.config.decoder_lr or method.config.lr

    def trained(self, model: LatentModel) -> nn.Module:
        return model.decoder

    def noise(self, model: LatentModel, steps: int, n: int, generator: torch.Generator) -> Noise:
        return self.method.stage_noise(steps, n, generator) | model.decoder.noise(steps, n, generator)

    def loss(self, model: LatentModel, x: torch.Tensor, index: torch.Tensor, noise: Noise) -> dict[str, torch.Tensor]:
        return model.decoder.loss(self.method.stage_code(self.codes.index_select(0, index), noise), x, noise)

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(terms.values())

    def start_epoch(self, model: LatentModel, epoch: int) -> None:
        model.train()
        model.encoder.eval()

    def after_step(self, model: LatentModel) -> None:
        model.decoder.after_step()
