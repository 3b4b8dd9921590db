"""Will a run fit? An estimate of its memory before anything is allocated (an out-of-memory error that
happens anyway is turned into one line by the launcher).

The estimate builds the model and runs each stage's step forward with fake tensors (shapes without
storage), so it costs milliseconds even for a configuration that would need terabytes:
    model + optimiser  4 copies of every parameter in float32 (weights, gradients, two AdamW moments)
    randomness         the epoch's pre-drawn noise (affine views, SIGReg slices, VAE noise)
    activations        every tensor one step's forward creates, the larger stage's (an upper bound on what
                       backward keeps: it counts SIGReg's (2N, M, K) tables and InfoNCE's logits too)
    data               the uint8 training images, the epoch's permutation, the cached codes
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from .config import Config
from .errors import IsogenError
from .methods import make_method
from .stages import DecoderStage, EncoderStage

GIB = 2**30
HEADROOM = 0.9  # plan to use at most this share of the free memory


class CreatedBytes(TorchDispatchMode):
    """Adds up the bytes of every tensor the operators under it return."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.total += sum(t.numel() * t.element_size() for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


def estimate_bytes(config: Config, n_train: int) -> dict[str, int]:
    """The parts of a training run's memory, in bytes (see the module docstring)."""
    n, steps = config.batch_size, n_train // config.batch_size
    with FakeTensorMode():
        method = make_method(config)
        model = method.build_model()
        codes = n_train * model.head_dim * 4  # the decoder stage's buffer: codes, or a posterior method's posteriors
        stages = [] if config.encoder_from else [EncoderStage(method)]  # a run on another's encoder decodes only
        if config.decoder_epochs:
            stages.append(DecoderStage(method, torch.zeros(n_train, model.head_dim)))
        randomness, activations = 0, 0
        for stage in stages:
            noise = stage.noise(model, steps, n, torch.Generator())
            with CreatedBytes() as created:
                stage.loss(model, torch.zeros(n, 1, 28, 28), torch.arange(n), {k: v[0] for k, v in noise.items()})
            randomness = max(randomness, sum(v.numel() * v.element_size() for v in noise.values()))
            activations = max(activations, created.total)
    return {"model + optimiser": 16 * sum(p.numel() for p in model.parameters()), "randomness": randomness,
            "activations": activations, "data": n_train * (28 * 28 + 8) + (codes if config.decoder_epochs else 0)}


def free_bytes(device: torch.device) -> int:
    """Free memory on the device: CUDA's own count, or the operating system's MemAvailable."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    for line in Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 1 << 62  # unknown: assume it fits


def describe(parts: dict[str, int]) -> str:
    return ", ".join(f"{name} {size / GIB:.2f} GiB" for name, size in sorted(parts.items(), key=lambda p: -p[1]))


def check_fits(config: Config, n_train: int, device: torch.device) -> dict[str, int]:
    """The estimate, or a one-line error naming the settings when it exceeds the free memory."""
    parts, free = estimate_bytes(config, n_train), free_bytes(device)
    if sum(parts.values()) > HEADROOM * free:
        raise IsogenError(f"{config.method} with embed_dim={config.embed_dim}, batch_size={config.batch_size} needs "
                          f"about {sum(parts.values()) / GIB:.1f} GiB on {device} ({describe(parts)}) but "
                          f"{free / GIB:.1f} GiB are free; lower embed_dim or batch_size (or sigreg_slices, "
                          "train_subset, the network widths)")
    return parts
