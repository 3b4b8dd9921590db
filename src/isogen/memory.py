"""Will a run fit? An estimate of its memory before anything is allocated (an out-of-memory error that
happens anyway is turned into one line by the launcher).

The estimate builds the model and draws one epoch's randomness with fake tensors (shapes without
storage), so it costs milliseconds even for a configuration that would need terabytes:
    model + optimiser  4 copies of every parameter in float32 (weights, gradients, two AdamW moments)
    randomness         the epoch's pre-drawn noise (affine views, SIGReg slices, VAE noise)
    activations        the outputs of every layer for one batch, kept for the backward pass
    data               the uint8 training images and the epoch's permutation
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from .config import Config
from .errors import IsogenError
from .methods import make_method

GIB = 2**30
HEADROOM = 0.9  # plan to use at most this share of the free memory


def estimate_bytes(config: Config, n_train: int) -> dict[str, int]:
    """The parts of a training run's memory, in bytes (see the module docstring)."""
    n, steps = config.batch_size, n_train // config.batch_size
    with FakeTensorMode():
        method = make_method(config)
        model = method.build_model()
        noise = method.epoch_noise(model, steps, n, torch.Generator())
        outputs: list[int] = []
        hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel() * o.element_size()))
                 for m in model.modules() if not list(m.children())]
        method.loss(model, torch.zeros(n, 1, 28, 28), {k: v[0] for k, v in noise.items()})
        for hook in hooks:
            hook.remove()
    return {"model + optimiser": 16 * sum(p.numel() for p in model.parameters()),
            "randomness": sum(v.numel() * v.element_size() for v in noise.values()),
            "activations": sum(outputs), "data": n_train * (28 * 28 + 8)}


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
