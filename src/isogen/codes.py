"""A frozen encoder's codes, computed once and cached beside it.

The decoder-only stage, a run built on another run's encoder (`isogen train --from RUN`) and evaluation all
need the codes of the clean training and test images under the trained encoder, in eval mode (BatchNorm's
running moments; a VAE's posterior mean, and for its decoder stage the posteriors themselves). They are
computed once and saved in the encoder's run folder as codes.pt, with a digest of the encoder's weights: a
cache written by another encoder is recomputed, never used.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from .data import as_float
from .files import save_torch
from .models import LatentModel

CODES = "codes.pt"


@torch.no_grad()
def encode_images(model: LatentModel, images: torch.Tensor, batch_size: int = 1000,
                  posterior: bool = False) -> torch.Tensor:
    """(N, 28, 28) uint8 -> codes (N, D), deterministic (the posterior mean for VAEs); with `posterior`, a
    Gaussian posterior's means and log-variances (N, 2D) instead."""
    device = next(model.parameters()).device
    read = model.features if posterior else model.encode
    return torch.cat([read(as_float(images[i:i + batch_size].to(device))).float()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def recompute_batchnorm(model: LatentModel, images: torch.Tensor, batch_size: int = 500) -> None:
    """Set the encoder's BatchNorm running moments to those of the clean `images` ((N, 28, 28) uint8): the
    average over batches of each batch's mean and unbiased variance (PyTorch's cumulative average). Training
    normalises batches of views by their moments; the clean images, whose codes the decoder and the prior use,
    then get their own (study-gap's bn-recompute run)."""
    layers = [m for m in model.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    device, was_training = next(model.parameters()).device, model.encoder.training
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches below
    model.encoder.train()
    for i in range(0, len(images), batch_size):
        model.encoder(as_float(images[i:i + batch_size].to(device)))
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    model.encoder.train(was_training)


def encoder_digest(model: LatentModel) -> str:
    """SHA-256 of the encoder's weights and buffers (names, dtypes, shapes, bytes): equal digests, equal codes."""
    digest = hashlib.sha256()
    for name, tensor in model.encoder.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}/{tensor.dtype}/{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def cached_codes(folder: Path, model: LatentModel, train_images: torch.Tensor, test_images: torch.Tensor,
                 write: bool = True) -> dict[str, torch.Tensor]:
    """{"train": (n, D), "test": (m, D)} codes on the model's device, and for a Gaussian posterior
    "train_posterior" (n, 2D), the training images' posteriors, which the decoder stage draws from; from
    folder/codes.pt when it was written by this encoder for these images, else computed (and saved there when
    `write`)."""
    path, digest = Path(folder) / CODES, encoder_digest(model)
    device = next(model.parameters()).device
    sizes = {"train": len(train_images), "test": len(test_images)}
    if model.posterior:
        sizes["train_posterior"] = len(train_images)
    if path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved["encoder_sha256"] == digest and all(len(saved[part]) == n for part, n in sizes.items()):
                return {part: saved[part].to(device) for part in sizes}
        except Exception:  # noqa: BLE001 - a damaged cache is derived data: recompute it
            pass
    was_training = model.encoder.training
    model.encoder.eval()
    if model.posterior:  # the training images encoded once: their posteriors, and the means' codes from them
        posteriors = encode_images(model, train_images, posterior=True)
        codes = {"train": model.to_latent(posteriors), "train_posterior": posteriors}
    else:
        codes = {"train": encode_images(model, train_images)}
    codes["test"] = encode_images(model, test_images)
    model.encoder.train(was_training)
    if write:
        save_torch(path, {"encoder_sha256": digest, **{part: value.cpu() for part, value in codes.items()}})
    return codes
