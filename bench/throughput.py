"""Training throughput (images/s) of the real training step: index-slice batching from the
device-resident uint8 data set, batched affine views, the method's loss, backward, AdamW.

    PYTHONPATH=src python bench/throughput.py [--device cpu|cuda] [--compile] [key=value ...]

Runs sigreg-sphere, infonce and vae at D=64 (batch 256 on CPU; 512 and 2048 on CUDA); key=value
overrides apply to every point. Prints one line per point: the median over timed windows of
`--steps` steps each.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from isogen.config import make_config, parse_assignments
from isogen.data import load_dataset
from isogen.methods import make_method
from isogen.runs import environment, generator, resolve_device
from isogen.train import train_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(overrides: dict[str, str], device: torch.device, images: torch.Tensor, steps: int, windows: int,
            compile_model: bool) -> float:
    config = make_config("", overrides)
    method = make_method(config).to(device)
    model = method.build_model().to(device)
    if compile_model:
        model = torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    rng = generator(device, 0, "bench")
    autocast = device.type == "cuda" and config.precision == "bf16"

    def run(n_steps: int) -> None:
        order = torch.randperm(len(images), generator=rng, device=device)
        for i in range(n_steps):
            start = (i * config.batch_size) % (len(images) - config.batch_size)
            train_step(method, model, optimizer, images, order[start:start + config.batch_size], rng, autocast)

    run(3)  # warm-up: allocator, kernels, compilation
    sync(device)
    rates = []
    for _ in range(windows):
        started = time.perf_counter()
        run(steps)
        sync(device)
        rates.append(steps * config.batch_size / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=0, help="steps per timed window (default: 5 CPU, 50 CUDA)")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    device = resolve_device(args.device)
    images = load_dataset("mnist").train_images.to(device)
    env = environment(device)
    print(f"# {env['device_name'] or device}, torch {env['torch']}, {env['cpu_threads']} CPU threads")
    steps = args.steps or (50 if device.type == "cuda" else 5)
    base = parse_assignments(args.overrides)
    grid = [{"method": m, "embed_dim": "64", "batch_size": b}
            for m in ("sigreg-sphere", "infonce", "vae") for b in (("256",) if device.type == "cpu" else ("512", "2048"))]
    for point in grid:
        overrides = {**point, **base}
        rate = measure(overrides, device, images, steps, args.windows, args.compile)
        desc = " ".join(f"{k}={v}" for k, v in overrides.items())
        print(f"{desc:60s} {rate:12,.0f} images/s   ({60000 / rate:.2f} s per 60k epoch)")


if __name__ == "__main__":
    main()
