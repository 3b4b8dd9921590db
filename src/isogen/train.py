"""Training runs into their folders: one `Run` per folder, advanced an epoch at a time.

`train()` drives one run to the end (under torchrun, over all the job's processes: `isogen.distributed`);
a study (`isogen.study`) interleaves the epochs of several runs on one device. Either way an epoch is
`begin_epoch`, `step` x steps_per_epoch, `end_epoch`, and the epoch's loss terms reach the host once,
at its end (`isogen.engine`). With `decoder_epochs` a run has two stages, each its own engine.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm import tqdm

from .codes import cached_codes, encoder_digest, recompute_batchnorm
from .config import DECODER_KEYS, Config
from .data import Dataset, load_dataset
from .distributed import SINGLE, Single
from .engine import Engine, new_model
from .errors import IsogenError
from .files import read_json, remove_stale_temporaries, save_torch, write_json, write_jsonl
from .memory import check_fits
from .methods import ignored_keys, make_method
from .runs import CHECKPOINT, SAMPLERS, encoder_folder, environment, load_checkpoint, resolve_device, save_samplers
from .sample import fit_samplers, refined, write_run_pictures
from .stages import DecoderStage, EncoderStage

# Keys that may differ between the run that wrote a checkpoint and the one resuming it.
RESUMABLE_DIFFERENCES = {"device", "data_dir", "checkpoint_every", "cuda_graph"}


class NonFiniteLoss(IsogenError):
    pass


class Run:
    """A run folder being trained. Building one checks the folder (a new run, or a checkpoint to resume
    with the same config), the data and the memory, before anything is written."""

    def __init__(self, config: Config, run_dir: str | Path, resume: bool = False, data: Dataset | None = None,
                 world: Single = SINGLE):
        self.config, self.run_dir, self.world = config.validate(), Path(run_dir), world
        self.method = make_method(config)  # unknown names fail here, before anything is written
        if config.batch_size % world.size:
            raise IsogenError(f"bad config value: batch_size={config.batch_size} does not split over {world.size} "
                              f"processes; use a batch_size that is a multiple of {world.size}")
        self.method.world = world
        self.device = world.device(resolve_device(config.device))
        checkpoint = check_run_folder(self.run_dir, config, resume)
        self.encoder_dir = encoder_folder(self.run_dir, config)
        source = check_source(self.run_dir, config) if config.encoder_from and not checkpoint else None
        self.log: list[dict] = checkpoint["log"] if checkpoint else []
        self.saved_epoch = checkpoint["epoch"] if checkpoint else 0
        # a run on another run's encoder starts where that encoder's training ended: at its decoder stage
        self.epoch = checkpoint["epoch"] if checkpoint else config.epochs if source else 0
        self.finished = self.done and (self.run_dir / SAMPLERS).exists()  # trained, samplers fitted and saved
        if self.finished:
            return
        self.data = data or load_dataset(config.dataset, config.data_dir)
        self.train_images = self.data.training_split(config.train_subset)[0]
        if config.batch_size > len(self.train_images):
            raise IsogenError(f"bad config value: batch_size={config.batch_size} exceeds the {len(self.train_images)} "
                              "training images; use a smaller batch_size or more data")
        check_fits(config, len(self.train_images), self.device)
        torch.manual_seed(config.seed)  # the initial weights
        self.model = new_model(self.method, self.device)
        self.method.to(self.device)
        world.prepare(self.model)  # before the optimiser: BatchNorm layers may be replaced
        if checkpoint:
            self.model.load_state_dict(checkpoint["model"])
        elif source:
            self.model.load_state_dict(source_weights(self.model, source, self.method.decoder_in_objective))
        self.device_images = self.train_images.to(self.device)  # (n, 28, 28) uint8, resident for the whole run
        self.engine = self.stage_engine()
        if checkpoint:
            self.engine.load(checkpoint)
            if not self.done:
                print(f"resuming {self.run_dir} at epoch {self.epoch}/{config.total_epochs}")
        world.broadcast(self.model)
        if world.rank == 0:  # one writer: rank 0 owns the run folder
            if not checkpoint:
                self.create_folder()
            remove_stale_temporaries(self.run_dir)
        counts = self.model.parameter_counts()
        print(f"{config.method} / {config.encoder} encoder, D={config.embed_dim}: {counts['encoder']:,} encoder "
              f"+ {counts['decoder']:,} decoder parameters; {len(self.train_images)} images on {self.device}")

    def create_folder(self) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise IsogenError(f"cannot create {self.run_dir}: {e.strerror}; choose a writable --run-dir") from e
        write_json(self.run_dir / "config.json", self.config.to_dict())
        provenance = {"encoder": {"run": self.config.encoder_from, "encoder_sha256": encoder_digest(self.model)}
                      } if self.config.encoder_from else {}
        write_json(self.run_dir / "environment.json", environment(self.device) | {"processes": self.world.size}
                   | provenance)

    def codes(self) -> dict[str, torch.Tensor]:
        """The frozen encoder's codes of the training split and the test set, cached in the encoder's folder."""
        return cached_codes(self.encoder_dir, self.model, self.train_images, self.data.test_images,
                            write=self.world.rank == 0)

    def stage_engine(self) -> Engine:
        """The engine of the stage the run is in (isogen.stages): the method for `epochs`, then (with
        decoder_epochs) the decoder alone on the frozen encoder's codes, with its own optimiser and schedule."""
        if self.epoch >= self.config.epochs and self.config.decoder_epochs:
            stage = DecoderStage(self.method, self.codes()["train_posterior" if self.method.posterior else "train"])
        else:
            stage = EncoderStage(self.method)
        return Engine(stage, self.model, self.device_images, self.config, self.world)

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.total_epochs

    @property
    def steps_per_epoch(self) -> int:
        return self.engine.steps_per_epoch

    def begin_epoch(self) -> None:
        self.started = time.perf_counter()
        self.engine.begin_epoch(self.epoch)

    def step(self) -> None:
        self.engine.step()

    def end_epoch(self) -> dict:
        """Check the epoch's losses, log them and (every checkpoint_every epochs, and at the end) save the
        checkpoint. A non-finite value raises NonFiniteLoss naming its first step; nothing is saved then."""
        terms = self.engine.end_epoch()  # (steps, T), the epoch's one sync
        names, steps, c = self.engine.term_names, self.steps_per_epoch, self.config
        bad = ~torch.isfinite(terms)
        if bad.any():
            row = int(bad.any(1).nonzero()[0])
            column = next((j for j in range(1, len(names)) if bad[row, j]), 0)  # a term before the total
            kept = (f"the last good checkpoint (epoch {self.saved_epoch}) is kept in {self.run_dir}" if self.saved_epoch
                    else "no checkpoint was written")
            raise NonFiniteLoss(f"non-finite loss: term {names[column]!r} = {float(terms[row, column])} at step "
                                f"{self.epoch * steps + row} (epoch {self.epoch + 1}); {kept}; lower lr or train in "
                                "fp32 (precision=fp32)")
        seconds = time.perf_counter() - self.started
        self.epoch += 1
        if self.epoch == c.epochs and c.bn_recompute:  # the encoder's last epoch: before its checkpoint
            recompute_batchnorm(self.model, self.device_images)
        last_step = (self.epoch - self.engine.first_epoch) * steps - 1  # in this stage's schedule
        # a one-stage run's records stay as they were; the decoder's stage is marked
        stage = {"stage": "decoder"} if self.engine.stage.name == "decoder" else {}
        record = {"epoch": self.epoch, "step": self.epoch * steps, **stage,
                  "lr": float(self.engine.schedule[last_step]),
                  **dict(zip(names, terms.mean(0).tolist(), strict=True)),
                  "seconds": round(seconds, 3), "images_per_s": round(steps * c.batch_size / seconds, 1)}
        self.log.append(record)
        if self.engine.runner.fallback and self.world.rank == 0:  # capture failed: say so where the run is described
            environment_file = self.run_dir / "environment.json"
            described = read_json(environment_file)
            if described.get("cuda_graph_fallback") != self.engine.runner.fallback:
                write_json(environment_file, described | {"cuda_graph_fallback": self.engine.runner.fallback})
        if (self.epoch % c.checkpoint_every == 0 or self.done) and self.world.rank == 0:
            save_torch(self.run_dir / CHECKPOINT, {
                "config": c.to_dict(), "epoch": self.epoch, "log": self.log, "model": self.model.state_dict(),
                "optimizer": self.engine.optimizer.state_dict(), "stage": self.engine.stage.name})
            write_jsonl(self.run_dir / "log.jsonl", self.log)  # after the checkpoint: it never runs ahead of it
            self.saved_epoch = self.epoch
        if self.epoch == c.epochs and c.decoder_epochs:  # the encoder's stage is over: the decoder's begins
            self.engine = self.stage_engine()
        return record

    def finish(self, pictures: bool = True, fit: bool = True) -> None:
        """Fit the code samplers to the training codes, save them, and draw the run's pictures (rank 0);
        fit=False leaves both to the run's evaluation (isogen.sample.run_samplers fits what is missing)."""
        self.finished = True
        if self.world.rank or not fit:
            return
        self.model.eval()
        samplers = fit_samplers(self.method, self.codes()["train"])
        save_samplers(self.run_dir, samplers)
        if pictures:
            write_run_pictures(self.run_dir, self.config, self.method, self.model,
                               refined(samplers, self.model, self.config.refine_steps), self.data)
            print(f"pictures: {self.run_dir / 'samples.png'} and {self.run_dir / 'interpolations.png'}")


def train(config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          data: Dataset | None = None, pictures: bool = True, world: Single = SINGLE) -> dict:
    """Train `config` into `run_dir` (with resume=True continue from its checkpoint), then fit the code
    samplers and save them there, and draw the run's pictures. Returns the last log record."""
    run = Run(config, run_dir, resume, data, world)
    if run.finished:
        print(f"{run.run_dir} is already trained ({run.epoch} epochs); nothing to do")
        return run.log[-1]
    while not run.done:
        run.begin_epoch()
        for _ in tqdm(range(run.steps_per_epoch), desc=f"epoch {run.epoch + 1}/{config.total_epochs}",
                      disable=not progress, leave=False, dynamic_ncols=True):
            run.step()
        record = run.end_epoch()
        print(f"epoch {record['epoch']}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                                                    for k, v in record.items() if k != "epoch"))
    run.finish(pictures)
    return run.log[-1]


def config_differences(saved: dict, config: Config) -> list[str]:
    """The keys in which a saved run's config differs from `config` and that could change the run: a key the
    saved config lacks (written before the key existed) had its default; settings the run does not read, or
    that resuming may change, do not count."""
    current, default = config.to_dict(), Config().to_dict()
    unread = RESUMABLE_DIFFERENCES | ignored_keys(config)
    return sorted(k for k in set(saved) | set(current)
                  if saved.get(k, default.get(k)) != current.get(k) and k not in unread)


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
    differing = config_differences(checkpoint["config"], config)
    if differing:
        raise IsogenError(f"cannot resume {run_dir}: its config differs in {differing}; resume with the same "
                          "settings (isogen train --resume --run-dir DIR alone reuses them) or use a new --run-dir")
    return checkpoint


def check_source(run_dir: Path, config: Config) -> dict:
    """The checkpoint of the run whose encoder `config` builds on (config.encoder_from, relative to run_dir):
    trained to the end of its encoder's epochs, and equal to `config` in every key but DECODER_KEYS."""
    source = encoder_folder(run_dir, config)
    if not (source / CHECKPOINT).exists():
        raise IsogenError(f"{run_dir} decodes the encoder of {source}, which has no {CHECKPOINT}; train that run "
                          "first (a study retrains it from its seed)")
    checkpoint = load_checkpoint(source)
    trained = Config.from_dict(checkpoint["config"], source=f"{source}/{CHECKPOINT}")
    if trained.encoder_from:
        raise IsogenError(f"{source} itself decodes another run's encoder ({trained.encoder_from}); build on the "
                          "run that trained the encoder")
    if checkpoint["epoch"] < trained.epochs:
        raise IsogenError(f"the encoder of {source} is not trained yet (epoch {checkpoint['epoch']} of "
                          f"{trained.epochs}); finish it with isogen train --resume --run-dir {source}")
    differing = sorted(k for k, v in trained.to_dict().items() if k not in DECODER_KEYS and config.to_dict()[k] != v)
    if differing:
        raise IsogenError(f"{run_dir} differs from the run whose encoder it decodes ({source}) in {differing}, "
                          f"which describe the encoder; only {', '.join(sorted(DECODER_KEYS))} may differ")
    return checkpoint


def source_weights(model: torch.nn.Module, checkpoint: dict, decoder_too: bool) -> dict:
    """`model`'s state with the source run's encoder, and for an autoencoder (whose decoder is part of the
    encoder's objective) its decoder as well where it has the same shape: the decoder stage continues it."""
    state, trained = model.state_dict(), checkpoint["model"]
    parts = ("encoder.", "decoder.") if decoder_too and all(
        k in trained and trained[k].shape == v.shape for k, v in state.items() if k.startswith("decoder.")) \
        else ("encoder.",)
    return state | {k: v for k, v in trained.items() if k.startswith(parts)}
