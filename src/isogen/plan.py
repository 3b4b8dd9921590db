"""`isogen study SPEC --plan`: how many runs, how many at once and about how long, in seconds.

Costs are measured, not guessed, and measured once: each distinct step shape among the pending runs (the
encoder stage's: method, batch, D, networks, slices, whether the decoder trains beside; the decoder
stage's: decoder, width, D, batch) takes a few timed steps on the device after a warm-up (which includes
CUDA graph capture), as do an Inception image, a stochastic decoder's image and each code sampler's fit and
draw (a learned code flow's thousands of steps, a GMM's EM); the times are cached per
device name and torch version (files.cache_dir()/plan-times.json), so a second plan reads them. With K
runs at once, the measured throughput of one run is divided by their speed-up, measured too: on CUDA of K
interleaved runs, on a CPU of K worker processes (training by an encoder step's, evaluation by Inception's).
Evaluation besides Inception and stochastic decoding (probes, classifier features, PRDC, pictures) is
OTHER_EVAL_S a run, measured on the 2-core CPU (a guess elsewhere).
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .cuda_graph import CAPTURE_AFTER
from .data import as_float
from .engine import Engine, new_model
from .files import cache_dir, read_json, write_json
from .launcher import Job, dataset_for
from .methods import make_method
from .metrics.inception import InceptionFeatures
from .models import DECODERS
from .processes import start_worker
from .runs import environment
from .stages import DecoderStage, EncoderStage

OTHER_EVAL_S = {"cpu": 60.0, "cuda": 5.0}  # 2-core AMD EPYC: the quick demo's evaluation less Inception
TIMED_STEPS = 4
ENCODER_SHAPE = ("method", "embed_dim", "batch_size", "encoder", "encoder_width", "sigreg_slices", "precision",
                 "train_subset")
DECODER_SHAPE = ("decoder", "decoder_width", "embed_dim", "batch_size", "precision")
SAMPLING_SHAPE = ("decoder", "decoder_width", "embed_dim", "flow_steps", "flow_solver", "flow_guidance")


class Timings:
    """Measured seconds by key, cached on disk per device name and torch version."""

    def __init__(self, device: torch.device):
        self.device, self.path = device, cache_dir() / "plan-times.json"
        self.prefix = f"{environment(device)['device_name']}|torch {torch.__version__}|"
        self.saved = read_json(self.path) if self.path.exists() else {}
        self.used: dict[str, float] = {}  # what this plan read, in order
        self.measured = False  # whether it timed anything now (rather than reading the cache)

    def get(self, key: str, measure) -> float:
        if self.prefix + key not in self.saved:
            self.saved[self.prefix + key], self.measured = measure(), True
            write_json(self.path, self.saved)
        self.used.setdefault(key, self.saved[self.prefix + key])
        return self.saved[self.prefix + key]


def stage_of(config: Config, decoder: bool) -> tuple[str, tuple]:
    """The key of a stage's step cost: the encoder's (with the decoder beside, if it trains there) or the decoder's."""
    if decoder:
        return "decoder", tuple(getattr(config, k) for k in DECODER_SHAPE)
    beside = EncoderStage(make_method(config)).decoder_beside
    extra = (config.decoder, config.decoder_width) if beside else ()
    return "encoder", tuple(getattr(config, k) for k in ENCODER_SHAPE) + extra


def seconds_per_round(config: Config, images: torch.Tensor, decoder: bool, count: int = 1, together=None) -> float:
    """Wall time of one step of each of `count` fresh engines of this stage, interleaved, after a warm-up (and,
    given a barrier `together`, after every process timing beside this one has warmed up too)."""
    config = dataclasses.replace(config, epochs=max(config.epochs, CAPTURE_AFTER + 2 + TIMED_STEPS),
                                 decoder_epochs=max(config.decoder_epochs, int(decoder)), encoder_from="")
    group = []
    for _ in range(count):
        method = make_method(config).to(images.device)
        model = new_model(method, images.device)
        codes = model.geometry.prior(len(images), config.embed_dim, torch.Generator().manual_seed(0),
                                     torch.float32).to(images.device)
        stage = DecoderStage(method, codes) if decoder else EncoderStage(method)
        group.append(Engine(stage, model, images[:(CAPTURE_AFTER + 2 + TIMED_STEPS) * config.batch_size], config))
    for engine in group:
        engine.begin_epoch(0)

    def rounds(n: int) -> None:
        for _ in range(n):
            for engine in group:
                engine.step()
        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)

    rounds(CAPTURE_AFTER + 2)
    if together is not None:
        together.wait()
    started = time.perf_counter()
    rounds(TIMED_STEPS)
    return (time.perf_counter() - started) / TIMED_STEPS


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


SAMPLER_TIMED_STEPS = (100, 300)  # a learning sampler's fit timed at two budgets: its cost per step, its overhead


def seconds_per_sampler(config: Config, name: str, draws: int, device: torch.device) -> float:
    """A sampler's fit to as many codes as the training set has (60k draws of the prior stand in for them) with
    the run's fit budget, then `draws` codes from it: a GMM's EM, or a learned code flow's steps (fitted with
    SAMPLER_TIMED_STEPS steps, the difference giving a step's cost, the rest the fit's overhead)."""
    method = make_method(config)
    codes = method.geometry.prior(60000, config.embed_dim, torch.Generator().manual_seed(0), torch.float32)

    def fit(steps: int) -> tuple[float, object]:
        sampler, started = method.samplers()[name], time.perf_counter()
        sampler.fit(codes.to(device), device, torch.Generator().manual_seed(0), steps)
        return time.perf_counter() - started, sampler

    if "sampler_fit_steps" in method.samplers()[name].config_keys:
        fit(10)  # a warm-up: the first fit pays one-time costs (imports, thread pools, allocator)
        (short, _), (long, sampler) = (fit(steps) for steps in SAMPLER_TIMED_STEPS)
        per_step = (long - short) / (SAMPLER_TIMED_STEPS[1] - SAMPLER_TIMED_STEPS[0])
        fitting = short + per_step * (config.sampler_fit_steps - SAMPLER_TIMED_STEPS[0])
    else:
        fitting, sampler = fit(config.sampler_fit_steps)
    started = time.perf_counter()
    sampler.sample(draws, torch.Generator().manual_seed(1))
    return fitting + time.perf_counter() - started


def seconds_per_inception_image(device: torch.device, images: torch.Tensor, together=None) -> float:
    inception = InceptionFeatures(device)
    inception(images[:8])  # warm-up
    if together is not None:
        together.wait()
    started = time.perf_counter()
    inception(images[:32])
    return (time.perf_counter() - started) / 32


def in_processes(count: int, measure, *args) -> float:
    """measure(*args, together=barrier) in `count` CPU worker processes at once (how a CPU study trains `count`
    runs), each with its share of the cores, timed together after every one has warmed up: their mean."""
    context, threads = multiprocessing.get_context("spawn"), max(1, torch.get_num_threads() // count)
    with context.Manager() as manager, ProcessPoolExecutor(count, mp_context=context, initializer=start_worker,
                                                           initargs=(threads,)) as pool:
        together = manager.Barrier(count)
        return float(np.mean([f.result() for f in [pool.submit(measure, *args, together=together)
                                                    for _ in range(count)]]))


PROC_STAT = "/proc/stat"


def machine_busy(device: torch.device, seconds: float = 0.5) -> str:
    """On a CPU, a one-line note when other processes already use its cores: the share of CPU time not idle
    over half a second (/proc/stat; the load average would lag a minute behind a study just paused)."""
    if device.type != "cpu":
        return ""

    def idle_and_total() -> tuple[int, int]:
        ticks = [int(t) for t in Path(PROC_STAT).read_text().split("\n", 1)[0].split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, all

    try:
        idle0, total0 = idle_and_total()
        time.sleep(seconds)
        idle1, total1 = idle_and_total()
    except (OSError, ValueError, IndexError):
        return ""
    used = 1 - (idle1 - idle0) / max(total1 - total0, 1)
    return f"the machine is busy (its cores {used:.0%} in use)" if used > 0.5 else ""


def evaluation_images(job: Job) -> tuple[int, int]:
    """(Inception images, decoded images) of one run's evaluation (the reference statistics are cached):
    the first kid_samplers samplers at max(KID, FID) n; decoded: each sampler's and the oracle's samples, the
    reconstructions and a lerp and a slerp path of `steps` frames per pair, and the midpoints."""
    o, samplers = job.eval, len(make_method(job.config).sampler_names)
    inception = min(samplers, o.kid_samplers) * max(o.kid_samples, o.fid_samples)
    decoded = (samplers + 1) * o.samples + o.reconstructions + o.pairs * (2 * o.steps + 1)
    return inception, decoded


def plan(jobs: list[Job], total_runs: int, concurrent: int, device: torch.device, name: str,
         launcher: str = "local") -> str:
    lines = [f"{name}: {total_runs} runs, {len(jobs)} to do; {concurrent} at a time on {device} "
             f"({environment(device)['device_name']})"]
    if not jobs:
        return "\n".join(lines)
    busy = machine_busy(device)  # before our own timing loads the cores
    timings, data = Timings(device), dataset_for(jobs[0].config, {})
    images = data.train_images.to(device)
    train_s, eval_s, inception_images = 0.0, 0.0, 0
    for job in jobs:
        c, n_train = job.config, len(data.training_split(job.config.train_subset)[0])
        steps = n_train // c.batch_size
        for decoder, epochs in ((False, 0 if c.encoder_from else c.epochs), (True, c.decoder_epochs)):
            if epochs:
                kind, shape = stage_of(c, decoder)
                train_s += epochs * steps * timings.get(
                    f"{kind} step {shape}", lambda c=c, decoder=decoder: seconds_per_round(c, images, decoder))
        inception, decoded = evaluation_images(job)
        inception_images += inception
        eval_s += OTHER_EVAL_S[device.type] * (job.eval.samples / 10000)
        method = make_method(c)
        for name, sampler in method.samplers().items():  # fitted when the run is evaluated
            shape = (name, method.geometry.name, c.embed_dim, job.eval.samples,
                     *(getattr(c, k) for k in sorted(sampler.config_keys)))
            eval_s += timings.get(f"sampler {shape}", lambda c=c, name=name, n=job.eval.samples:
                                  seconds_per_sampler(c, name, n, device))
        if DECODERS[c.decoder].stochastic:
            shape = tuple(getattr(c, k) for k in SAMPLING_SHAPE)
            eval_s += decoded * timings.get(f"decode {shape}", lambda c=c: seconds_per_decoded_image(c, device))
    per_image = timings.get("inception image", lambda: seconds_per_inception_image(
        device, as_float(data.test_images[:40]))) if inception_images else 0.0
    eval_s += per_image * inception_images
    if concurrent > 1 and launcher == "processes":  # K worker processes: training and evaluation, each measured
        c, shape = jobs[0].config, stage_of(jobs[0].config, False)[1]
        one = timings.get(f"encoder step {shape}", lambda: seconds_per_round(c, images, False))
        k = timings.get(f"{concurrent} processes, encoder step {shape}",
                        lambda: in_processes(concurrent, seconds_per_round, c, images, False))
        train_speedup = eval_speedup = concurrent * one / k
        if inception_images:  # evaluation's largest part
            pictures = as_float(data.test_images[:40])
            k_image = timings.get(f"{concurrent} processes, inception image",
                                  lambda: in_processes(concurrent, seconds_per_inception_image, device, pictures))
            eval_speedup = concurrent * per_image / k_image
        lines.append(f"  {concurrent} runs at once in worker processes: {train_speedup:.2f}x the training throughput "
                     f"of one, {eval_speedup:.2f}x its evaluation's ({'Inception' if inception_images else 'training'}"
                     "'s speed-up)")
        train_s, eval_s = train_s / train_speedup, eval_s / eval_speedup
    elif concurrent > 1:  # K interleaved runs of the commonest encoder shape against one
        c = jobs[0].config
        one = timings.get(f"encoder step {stage_of(c, False)[1]}", lambda: seconds_per_round(c, images, False))
        k = timings.get(f"{concurrent} interleaved {stage_of(c, False)[1]}",
                        lambda: seconds_per_round(c, images, False, concurrent))
        speedup = concurrent * one / k
        lines.append(f"  {concurrent} runs interleaved: {speedup:.2f}x the throughput of one")
        train_s /= speedup
    if busy and timings.measured:
        lines.append(f"  warning: {busy}; steps timed now are slower than the study's will be (the cache keeps "
                     f"them: delete {cache_dir() / 'plan-times.json'} to time again)")
    lines += [f"  {key}: {seconds * 1000:.1f} ms" for key, seconds in timings.used.items()]
    lines.append(f"  estimate: training {train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min (Inception "
                 f"{per_image * 1000:.0f} ms/image x {inception_images:,} images, {OTHER_EVAL_S[device.type]:.0f} s a "
                 f"run besides); wall about {(train_s + eval_s) / 60:.1f} min ({(train_s + eval_s) / 3600:.1f} h), "
                 "less where evaluation overlaps training")
    return "\n".join(lines)
