"""`isogen study SPEC --plan`: how many runs, how many at once and about how long, before anything starts.

Training time is measured, not guessed: each distinct shape among the pending runs (method, batch, D,
networks) takes a few timed steps on the device after a warm-up (which includes the CUDA graph
capture); with K runs at once, K engines of the commonest shape are timed interleaved, as the
launcher runs them. Evaluation: Inception's measured cost per image times the images each run embeds,
a stochastic decoder's measured cost per image (an ODE each) times the images each such run decodes,
plus OTHER_EVAL_S per run for the rest (probes, t-SNE, PRDC, figures), which was measured on the
2-core CPU (study-small: ~45 s a run besides Inception) and is a guess elsewhere.
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter

import torch

from .config import Config
from .data import as_float
from .cuda_graph import CAPTURE_AFTER
from .engine import Engine, new_model
from .launcher import Job, dataset_for
from .methods import make_method
from .metrics.evaluate import EvalOptions
from .metrics.inception import InceptionFeatures
from .models import DECODERS
from .runs import environment
from .stages import EncoderStage

OTHER_EVAL_S = {"cpu": 45.0, "cuda": 5.0}
TIMED_STEPS = 4


SHAPE = ("method", "embed_dim", "batch_size", "encoder", "encoder_width", "decoder", "decoder_width",
         "sigreg_slices", "precision")  # the settings that decide the cost of a step


DECODER_SHAPE = ("decoder", "decoder_width", "embed_dim", "flow_steps", "flow_solver", "flow_guidance")


def shape_of(config: Config) -> tuple:
    return tuple(getattr(config, key) for key in SHAPE)


def engines(config: Config, images: torch.Tensor, count: int) -> list[Engine]:
    """`count` fresh engines of this config, with epochs enough for the warm-up and the timed steps."""
    epochs = -(-(CAPTURE_AFTER + 2 + TIMED_STEPS) // (len(images) // config.batch_size))
    config = dataclasses.replace(config, epochs=max(config.epochs, epochs))
    out = []
    for _ in range(count):
        method = make_method(config).to(images.device)
        out.append(Engine(EncoderStage(method), new_model(method, images.device), images, config))
    return out


def seconds_per_round(group: list[Engine]) -> float:
    """Wall time of one step of every engine in `group`, interleaved, after warming them up."""
    taken = [0]

    def rounds(n: int) -> None:
        for _ in range(n):
            for engine in group:
                if taken[0] % engine.steps_per_epoch == 0:  # as in training: a new epoch refills the buffers
                    engine.begin_epoch(taken[0] // engine.steps_per_epoch)
                engine.step()
            taken[0] += 1
        if group[0].device.type == "cuda":
            torch.cuda.synchronize(group[0].device)

    rounds(CAPTURE_AFTER + 2)
    started = time.perf_counter()
    rounds(TIMED_STEPS)
    return (time.perf_counter() - started) / TIMED_STEPS


def inception_images(options: EvalOptions, samplers: int, shared_midpoint: bool, device: torch.device) -> int:
    """Images one run's evaluation passes through Inception (the test and floor statistics are cached): each
    sampler's and the oracle's decodings, and the interpolation midpoints."""
    n = options.fid_samples if options.fid_samples >= 0 else (10000 if device.type == "cuda" else 500)
    if n == 0:
        return 0
    return (samplers + 1) * min(n, options.samples) + (1 if shared_midpoint else 2) * min(n, options.pairs)


def decoded_images(options: EvalOptions, samplers: int) -> int:
    """Images one run's evaluation decodes: each sampler's and the oracle's samples, the reconstructions,
    and a lerp and a slerp path of `steps` frames per pair."""
    return (samplers + 1) * options.samples + options.reconstructions + 2 * options.pairs * options.steps


def seconds_per_decoded_image(config: Config, device: torch.device) -> float:
    """A stochastic decoder's cost per image (its ODE: flow_steps solver steps), timed on 50 codes."""
    model = make_method(config).build_model().to(device).eval()
    codes = model.geometry.prior(50, config.embed_dim, torch.Generator().manual_seed(0), torch.float32).to(device)
    model.decoder.generate(codes[:10])  # warm-up
    started = time.perf_counter()
    model.decoder.generate(codes)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / len(codes)


def plan(jobs: list[Job], total_runs: int, concurrent: int, options: EvalOptions, device: torch.device,
         name: str) -> str:
    lines = [f"{name}: {total_runs} runs, {len(jobs)} to do; {concurrent} at a time on {device} "
             f"({environment(device)['device_name']})"]
    if not jobs:
        return "\n".join(lines)
    data = dataset_for(jobs[0].config, {})
    shapes = Counter(shape_of(j.config) for j in jobs)
    per_step: dict[tuple, float] = {}
    varying = [i for i, key in enumerate(SHAPE) if len({shape[i] for shape in shapes}) > 1 or key == "method"]
    for shape in shapes:
        config = next(j.config for j in jobs if shape_of(j.config) == shape)
        images = data.training_split(config.train_subset)[0].to(device)
        per_step[shape] = seconds_per_round(engines(config, images, 1))
        what = ", ".join(f"{SHAPE[i]}={shape[i]}" for i in varying)
        lines.append(f"  {what}: {per_step[shape] * 1000:.1f} ms a step alone ({shapes[shape]} runs)")
    speedup = 1.0
    if concurrent > 1:
        common = shapes.most_common(1)[0][0]
        config = next(j.config for j in jobs if shape_of(j.config) == common)
        images = data.training_split(config.train_subset)[0].to(device)
        speedup = concurrent * per_step[common] / seconds_per_round(engines(config, images, concurrent))
        lines.append(f"  {concurrent} runs interleaved: {speedup:.2f}x the throughput of one")
    # decoder-only epochs counted at the full step's time: an upper bound
    train_s = sum(j.config.total_epochs * (len(data.training_split(j.config.train_subset)[0]) // j.config.batch_size)
                  * per_step[shape_of(j.config)] for j in jobs) / speedup
    per_image = 0.0
    if options.fid_samples != 0:
        inception, sample = InceptionFeatures(device), as_float(data.test_images[:50])
        inception(sample[:10])  # warm-up
        started = time.perf_counter()
        inception(sample)
        per_image = (time.perf_counter() - started) / len(sample)
    methods = [make_method(j.config) for j in jobs]
    images = sum(inception_images(options, len(m.sampler_names), m.geometry.shared_midpoint, device) for m in methods)
    eval_s = per_image * images + OTHER_EVAL_S[device.type] * len(jobs)
    # a stochastic decoder's sampling (an ODE per image) is not in OTHER_EVAL_S: timed per decoder shape
    stochastic = [(j.config, m) for j, m in zip(jobs, methods) if DECODERS[j.config.decoder].stochastic]
    decode_s: dict[tuple, float] = {}
    for config, method in stochastic:
        key = tuple(getattr(config, k) for k in DECODER_SHAPE)
        if key not in decode_s:
            decode_s[key] = seconds_per_decoded_image(config, device)
            lines.append(f"  {', '.join(f'{k}={v}' for k, v in zip(DECODER_SHAPE, key))}: {decode_s[key] * 1000:.1f} "
                         "ms to decode an image")
        eval_s += decode_s[key] * decoded_images(options, len(method.sampler_names))
    lines.append(f"  estimate: training {train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min "
                 f"(Inception {per_image * 1000:.1f} ms/image x {images:,} images + {OTHER_EVAL_S[device.type]:.0f} s "
                 f"a run); wall about {(train_s + eval_s) / 60:.1f} min, less where evaluation overlaps training")
    return "\n".join(lines)
