"""Generation: decode sampler draws into grids, and paths between test digits into strips."""
from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import Dataset, as_float
from .files import write_bytes
from .methods import Method
from .models import LatentModel
from .samplers import Sampler


@torch.no_grad()
def encode_images(model: LatentModel, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, 28, 28) uint8 -> codes (N, D), deterministic (the posterior mean for VAEs)."""
    device = next(model.parameters()).device
    return torch.cat([model.encode(as_float(images[i:i + batch_size].to(device))).float()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def decode_codes(model: LatentModel, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, D) -> (N, 1, 28, 28) pixel probabilities in [0, 1]."""
    return torch.cat([torch.sigmoid(model.decode(z[i:i + batch_size]).float())
                      for i in range(0, len(z), batch_size)])


def fit_samplers(method: Method, model: LatentModel, train_images: torch.Tensor) -> dict[str, Sampler]:
    codes = encode_images(model, train_images)
    return {name: sampler.fit(codes) for name, sampler in method.samplers().items()}


def interpolate(z1: torch.Tensor, z2: torch.Tensor, steps: int, mode: str, on_sphere: bool) -> torch.Tensor:
    """Paths from z1 to z2, (P, D) each -> (P, S, D).

    lerp: (1-t) z1 + t z2, re-normalised on the sphere. slerp: constant angular speed along the great
    circle between the directions; off the sphere the norm is interpolated linearly.
    """
    t = torch.linspace(0, 1, steps, device=z1.device)[None, :, None]  # (1, S, 1)
    a, b = z1[:, None, :], z2[:, None, :]  # (P, 1, D)
    if mode == "lerp":
        path = (1 - t) * a + t * b
        return F.normalize(path, dim=2) if on_sphere else path
    if mode != "slerp":
        raise ValueError(f"interpolation mode must be 'lerp' or 'slerp', got {mode!r}")
    na, nb = a.norm(dim=2, keepdim=True), b.norm(dim=2, keepdim=True)
    ua, ub = a / na, b / nb
    omega = torch.acos((ua * ub).sum(2, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))  # (P, 1, 1)
    path = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return path if on_sphere else path * ((1 - t) * na + t * nb)


def figure_png(images: torch.Tensor, nrow: int, title: str, row_labels: list[str] | None = None) -> bytes:
    """(N, 1, H, W) in [0, 1] -> PNG bytes of a titled grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    grid = make_grid(images.cpu().float(), nrow=nrow, padding=2, pad_value=0.5)[0]  # (H', W')
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 40 + (1.6 if row_labels else 0), grid.shape[0] / 40 + 0.6),
                           dpi=100)
    ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([16 + 30 * i for i in range(len(row_labels))], row_labels, fontsize=7)
    else:
        ax.set_yticks([])
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_sample_grid(path: Path, model: LatentModel, sampler: Sampler, sampler_name: str, method_name: str,
                      generator: torch.Generator, n: int = 100) -> None:
    device = next(model.parameters()).device
    images = decode_codes(model, sampler.sample(n, generator, device))
    write_bytes(path, figure_png(images, nrow=10, title=f"{method_name}: {n} samples, {sampler_name} sampler"))


def write_interpolation_strips(path: Path, model: LatentModel, data: Dataset, method_name: str,
                               generator: torch.Generator, pairs: int = 6, steps: int = 10) -> None:
    """For each pair of test digits: original, lerp path, original; then the slerp path below it."""
    device = next(model.parameters()).device
    pick = torch.randperm(len(data.test_images), generator=generator)[: 2 * pairs]
    originals = as_float(data.test_images[pick]).to(device)  # (2P, 1, 28, 28)
    codes = encode_images(model, data.test_images[pick])
    z1, z2 = codes[:pairs], codes[pairs:]
    rows, labels = [], []
    for p in range(pairs):
        for mode in ("lerp", "slerp"):
            walk = interpolate(z1[p:p + 1], z2[p:p + 1], steps, mode, model.latent == "sphere")[0]  # (S, D)
            rows += [originals[p:p + 1], decode_codes(model, walk), originals[pairs + p:pairs + p + 1]]
            labels.append(f"{mode} {int(data.test_labels[pick[p]])}->{int(data.test_labels[pick[pairs + p]])}")
    title = f"{method_name}: test pairs (ends: originals), {'lerp-normalize' if model.latent == 'sphere' else 'lerp'} and slerp"
    write_bytes(path, figure_png(torch.cat(rows), nrow=steps + 2, title=title, row_labels=labels))
