"""One training function for every method: data on the device, batches as index slices."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .config import Config
from .data import Dataset, as_float, load_dataset
from .errors import IsogenError
from .files import read_json, remove_stale_temporaries, save_torch, write_json, write_jsonl
from .methods import Method, make_method
from .models import LatentModel
from .runs import CHECKPOINT, environment, generator, load_checkpoint, resolve_device, save_samplers
from .sample import fit_samplers, write_interpolation_strips, write_sample_grid

# Keys that may differ between the run that wrote a checkpoint and the one resuming it.
RESUMABLE_DIFFERENCES = {"device", "data_dir"}


def learning_rate(step: int, config: Config, total_steps: int) -> float:
    """Linear warm-up to config.lr, then cosine decay to lr * min_lr_ratio at total_steps."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


class NonFiniteLoss(IsogenError):
    pass


def train(config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          data: Dataset | None = None, pictures: bool = True) -> dict:
    """Train `config` into `run_dir` (with resume=True continue from its checkpoint), then fit the code
    samplers and save them there, and draw the run's pictures. Returns the last log record."""
    run_dir = Path(run_dir)
    config.validate()
    method = make_method(config)  # unknown names fail here, before anything is written
    device = resolve_device(config.device)
    checkpoint = check_run_folder(run_dir, config, resume)
    if checkpoint is not None and checkpoint["epoch"] >= config.epochs:
        print(f"{run_dir} is already trained ({checkpoint['epoch']} epochs); nothing to do")
        return checkpoint["log"][-1]

    data = data or load_dataset(config.dataset, config.data_dir)
    train_images = data.training_split(config.train_subset)[0]
    n_train = len(train_images)
    if config.batch_size > n_train:
        raise IsogenError(f"bad config value: batch_size={config.batch_size} exceeds the {n_train} training "
                          "images; use a smaller batch_size or more data")
    images = train_images.to(device)  # (n, 28, 28) uint8, resident for the whole run
    if run_dir.exists():
        remove_stale_temporaries(run_dir)

    torch.manual_seed(config.seed)  # the initial weights
    model = method.build_model().to(device)
    method.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    log: list[dict] = []
    start_epoch = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        log, start_epoch = checkpoint["log"], checkpoint["epoch"]
        print(f"resuming {run_dir} at epoch {start_epoch}/{config.epochs}")
    else:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise IsogenError(f"cannot create {run_dir}: {e.strerror}; choose a writable --run-dir") from e
        write_json(run_dir / "config.json", config.to_dict())
        write_json(run_dir / "environment.json", environment(device))
    counts = model.parameter_counts()
    print(f"{config.method} / {config.encoder} encoder, D={config.embed_dim}: {counts['encoder']:,} encoder "
          f"+ {counts['decoder']:,} decoder parameters; {n_train} images on {device}")

    steps_per_epoch = n_train // config.batch_size
    total_steps = config.epochs * steps_per_epoch
    autocast = device.type == "cuda" and config.precision == "bf16"
    for epoch in range(start_epoch, config.epochs):
        model.train()
        method.start_epoch(epoch)
        rng = generator(device, config.seed, "train", epoch)  # permutation, views, slices, noise
        order = torch.randperm(n_train, generator=rng, device=device)
        sums: dict[str, float] = {}
        started = time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, dynamic_ncols=True)
        for i in bar:
            step = epoch * steps_per_epoch + i
            lr = learning_rate(step, config, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = order[i * config.batch_size:(i + 1) * config.batch_size]
            terms = train_step(method, model, optimizer, images, batch, rng, autocast)
            # One deliberate sync per step: the values for the log and the non-finite check.
            values = dict(zip(terms, torch.stack(list(terms.values())).float().tolist()))
            check_finite(values, step, epoch, run_dir)
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
            if i % 10 == 0:
                bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()})
        seconds = time.perf_counter() - started
        record = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": lr,
                  **{k: v / steps_per_epoch for k, v in sums.items()},
                  "seconds": round(seconds, 3), "images_per_s": round(steps_per_epoch * config.batch_size / seconds, 1)}
        log.append(record)
        save_torch(run_dir / CHECKPOINT, {"config": config.to_dict(), "epoch": epoch + 1, "log": log,
                                          "model": model.state_dict(), "optimizer": optimizer.state_dict()})
        write_jsonl(run_dir / "log.jsonl", log)
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch",)))
    model.eval()
    samplers = fit_samplers(method, model, train_images)
    save_samplers(run_dir, samplers)
    if pictures:
        write_pictures(run_dir, config, method, model, samplers, data)
    return log[-1]


def train_step(method: Method, model: LatentModel, optimizer: torch.optim.Optimizer, images: torch.Tensor,
               batch: torch.Tensor, generator: torch.Generator, autocast: bool) -> dict[str, torch.Tensor]:
    """One optimiser step on images[batch] ((n, 28, 28) uint8 on the device, batch (N,) indices).
    Returns the detached total ("loss") and terms, still on the device."""
    x = as_float(images[batch])  # (N, 1, 28, 28)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        terms = method.loss(model, x, generator)
    loss = method.total(terms)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.detach(), **{name: value.detach() for name, value in terms.items()}}


def check_run_folder(run_dir: Path, config: Config, resume: bool) -> dict | None:
    """The checkpoint to resume from, or None for a fresh run; refuses to mix two configs in one folder."""
    if not (run_dir / CHECKPOINT).exists():
        if run_dir.exists() and (run_dir / "config.json").exists():
            saved = read_json(run_dir / "config.json")
            if saved != config.to_dict() and not resume:
                raise IsogenError(f"{run_dir} holds a run with another config; choose a new --run-dir")
        return None
    if not resume:
        raise IsogenError(f"{run_dir} already holds a trained checkpoint; pass --resume to continue it "
                          "or choose a new --run-dir")
    checkpoint = load_checkpoint(run_dir)
    saved = checkpoint["config"]
    differing = sorted(k for k in set(saved) | set(config.to_dict())
                       if saved.get(k) != config.to_dict().get(k) and k not in RESUMABLE_DIFFERENCES)
    if differing:
        raise IsogenError(f"cannot resume {run_dir}: its config differs in {differing}; resume with the same "
                          "settings (isogen train --resume --run-dir DIR alone reuses them) or use a new --run-dir")
    return checkpoint


def check_finite(values: dict[str, float], step: int, epoch: int, run_dir: Path) -> None:
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        term = next((b for b in bad if b != "loss"), "loss")
        kept = (f"the last good checkpoint (epoch {epoch}) is kept in {run_dir}" if epoch
                else "no checkpoint was written")
        raise NonFiniteLoss(f"non-finite loss: term {term!r} = {values[term]} at step {step} (epoch {epoch + 1}); "
                            f"{kept}; lower lr or train in fp32 (precision=fp32)")


def write_pictures(run_dir: Path, config: Config, method: Method, model: LatentModel, samplers: dict,
                   data: Dataset) -> None:
    first = method.sampler_names[0]
    write_sample_grid(run_dir / "samples.png", model, samplers[first], first, config.method,
                      generator(torch.device("cpu"), config.seed, "samples"))
    write_interpolation_strips(run_dir / "interpolations.png", model, data, config.method,
                               generator(torch.device("cpu"), config.seed, "pairs"))
    print(f"pictures: {run_dir / 'samples.png'} and {run_dir / 'interpolations.png'}")
