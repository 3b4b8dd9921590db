"""Generation from a trained run: codes in and out of the model, the run's fitted samplers, sample
grids and interpolation strips."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from . import figures
from .codes import encode_images
from .config import Config
from .data import Dataset, as_float, load_dataset
from .files import write_bytes
from .methods import Method
from .models import LatentModel
from .runs import generator, load_samplers, save_samplers
from .samplers import Sampler


@torch.no_grad()
def decode_codes(model: LatentModel, z: torch.Tensor, generator: torch.Generator | None = None,
                 noise_group: int = 1, batch_size: int = 1000) -> torch.Tensor:
    """(N, D) -> (N, 1, 28, 28) images in [0, 1], drawn by the decoder (its mean if it is deterministic);
    consecutive groups of noise_group codes share the decoder's noise."""
    batch_size = max(1, batch_size // noise_group) * noise_group  # a group never straddles two batches
    return torch.cat([model.decoder.generate(z[i:i + batch_size], generator, noise_group)
                      for i in range(0, len(z), batch_size)])


class Refined:
    """A sampler whose draws go through the model's encode-decode loop `steps` times, z <- encode(decode(z)):
    the Sphere Encoder's few-step generation (Yue et al. 2026), for any sphere run (config.refine_steps)."""

    def __init__(self, sampler: Sampler, model: LatentModel, steps: int):
        self.sampler, self.model, self.steps = sampler, model, steps

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = self.sampler.sample(n, generator)
        for _ in range(self.steps):
            z = torch.cat([self.model.encode(decode_codes(self.model, z[i:i + 1000])).float()
                           for i in range(0, len(z), 1000)])
        return z


def fit_samplers(method: Method, codes: torch.Tensor) -> dict[str, Sampler]:
    """The method's samplers fitted to the training codes (N, D), on their device."""
    c = method.config
    return {name: sampler.fit(codes, codes.device, generator(torch.device("cpu"), c.seed, f"fit-{name}"),
                              c.sampler_fit_steps)
            for name, sampler in method.samplers().items()}


def run_samplers(run_dir: Path, method: Method, model: LatentModel, data: Dataset | None = None) -> dict[str, Sampler]:
    """The run's fitted samplers: loaded from the run folder, or (for a run that has none saved yet)
    fitted to its training codes (from `data`, loaded if not given) and saved there; with refine_steps, each
    draw refined by the model's encode-decode loop."""
    device = next(model.parameters()).device
    samplers = load_samplers(run_dir, method.samplers(), device)
    if samplers is None:
        c = method.config
        data = data or load_dataset(c.dataset, c.data_dir)
        samplers = fit_samplers(method, encode_images(model, data.training_split(c.train_subset)[0]))
        save_samplers(run_dir, samplers)
    return refined(samplers, model, method.config.refine_steps)


def refined(samplers: dict[str, Sampler], model: LatentModel, steps: int) -> dict[str, Sampler]:
    """The samplers as generation uses them: with refine_steps, each draw refined by the encode-decode loop."""
    return {name: Refined(sampler, model, steps) for name, sampler in samplers.items()} if steps else samplers


def write_images_npz(path: Path, images: torch.Tensor, meta: dict) -> None:
    """images (N, 1, 28, 28) in [0, 1] -> path.npz holding 'images' (N, 28, 28) uint8 (rounded, as MNIST is
    stored) and the strings of `meta` (run, sampler, seed), written atomically."""
    pixels = (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=pixels, **{k: np.array(str(v)) for k, v in meta.items()})
    write_bytes(path, buffer.getvalue())


def write_sample_grid(path: Path, model: LatentModel, sampler: Sampler, sampler_name: str, method_name: str,
                      generator: torch.Generator, n: int = 100) -> None:
    images = decode_codes(model, sampler.sample(n, generator), generator)
    figures.image_grid(path, images, nrow=10, title=f"{method_name}: {n} samples, {sampler_name} sampler")


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
            walk = model.geometry.interpolate(z1[p:p + 1], z2[p:p + 1], steps, mode)[0]  # (S, D)
            frames = decode_codes(model, walk, generator, noise_group=steps)  # the decoder's noise fixed along it
            rows += [originals[p:p + 1], frames, originals[pairs + p:pairs + p + 1]]
            labels.append(f"{mode} {int(data.test_labels[pick[p]])}->{int(data.test_labels[pick[pairs + p]])}")
    title = f"{method_name}: test pairs (ends: originals), {model.geometry.lerp_name} and slerp" + (
        ", decoder noise fixed along each path" if model.decoder.stochastic else "")
    figures.image_grid(path, torch.cat(rows), nrow=steps + 2, title=title, row_labels=labels)


def write_run_pictures(run_dir: Path, config: Config, method: Method, model: LatentModel,
                       samplers: dict[str, Sampler], data: Dataset) -> None:
    """The run folder's own pictures: samples.png from its first sampler, interpolations.png."""
    first = method.sampler_names[0]
    write_sample_grid(run_dir / "samples.png", model, samplers[first], first, config.method,
                      generator(torch.device("cpu"), config.seed, "samples"))
    write_interpolation_strips(run_dir / "interpolations.png", model, data, config.method,
                               generator(torch.device("cpu"), config.seed, "pairs"))


def write_decoder_draws(path: Path, model: LatentModel, codes: torch.Tensor, generator: torch.Generator,
                        draws: int = 10) -> None:
    """One row per code: `draws` images a stochastic decoder draws for it — what the code fixes, what it adds."""
    images = decode_codes(model, codes.repeat_interleave(draws, dim=0), generator)
    figures.image_grid(path, images, nrow=draws,
                       title=f"{draws} draws of the decoder for each of {len(codes)} test codes")
