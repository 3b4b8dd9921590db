"""Training throughput (images/s) of the real training step (`isogen.engine.Engine`): the batch gathered
from the device-resident uint8 data set, affine views from the epoch's pre-drawn parameters, the
method's loss, backward, fused AdamW; on CUDA the step is a replayed CUDA graph (cuda_graph=false: eager).

    PYTHONPATH=src python bench/throughput.py [--device cpu|cuda] [--compile] [key=value ...]

Runs sigreg-sphere, infonce and vae at D=64 (batch 256 on CPU; 512 and 2048 on CUDA); key=value
overrides apply to every point. The default config is the one-stage protocol (decoder_epochs=0: a contrastive
encoder trains with its decoder beside it); the studies' two-stage protocol (decoder_epochs > 0) trains a
contrastive encoder alone first, about twice as fast on a CPU: each line says which stage it timed. Prints one
line per point: the median over timed windows of `--steps` steps each.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from isogen.config import make_config, parse_assignments
from isogen.data import load_dataset
from isogen.engine import Engine, new_model
from isogen.methods import make_method
from isogen.runs import environment, resolve_device
from isogen.stages import EncoderStage


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(overrides: dict[str, str], device: torch.device, images: torch.Tensor, steps: int, windows: int,
            compile_model: bool) -> tuple[float, str]:
    """(images/s, which stage it timed)."""
    config = make_config("", {**overrides, "device": str(device)})
    method = make_method(config).to(device)
    model = new_model(method, device)
    if compile_model:  # the networks the step calls (the engine never calls the model's own forward)
        model.encoder.compile()
        model.decoder.compile()
    stage = EncoderStage(method)
    engine = Engine(stage, model, images, config)
    done = [0]  # steps taken, counted on the host: the engine's own counters live on the device

    def run(n_steps: int) -> None:
        for _ in range(n_steps):
            if done[0] % engine.steps_per_epoch == 0:  # epochs start as in training: buffers refilled
                engine.begin_epoch(done[0] // engine.steps_per_epoch)
            engine.step()
            done[0] += 1

    run(5)  # warm-up: allocator, kernels, CUDA graph capture
    sync(device)
    rates = []
    for _ in range(windows):
        started = time.perf_counter()
        run(steps)
        sync(device)
        rates.append(steps * config.batch_size / (time.perf_counter() - started))
    return statistics.median(rates), "encoder + decoder beside" if stage.decoder_beside else "encoder alone"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=0, help="steps per timed window (default: 5 CPU, 50 CUDA)")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder and decoder")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    device = resolve_device(args.device)
    images = load_dataset("mnist").train_images.to(device)
    env = environment(device)
    print(f"# {env['device_name'] or device}, torch {env['torch']}, {env['cpu_threads']} CPU threads")
    steps = args.steps or (50 if device.type == "cuda" else 5)
    base = parse_assignments(args.overrides)
    batches = ("256",) if device.type == "cpu" else ("512", "2048")
    grid = [{"method": m, "embed_dim": "64", "batch_size": b}
            for m in ("sigreg-sphere", "infonce", "vae") for b in batches]
    if "method" in base:  # one point, the one asked for
        grid = grid[:1]
    for point in grid:
        overrides = {**point, **base}
        rate, stage = measure(overrides, device, images, steps, args.windows, args.compile)
        desc = " ".join(f"{k}={v}" for k, v in overrides.items())
        print(f"{desc:60s} {rate:12,.0f} images/s   ({60000 / rate:.2f} s per 60k epoch; {stage})")


if __name__ == "__main__":
    main()
