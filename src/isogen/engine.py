"""The training step as a fixed program over device tensors: no host sync, few launches, and on CUDA
captured once as a CUDA graph and replayed.

Everything a step reads lives in a static device buffer that is filled before the epoch: the epoch's
permutation (steps, N), its randomness (the stage's `noise`, first axis = step), the learning-rate
schedule (total_steps,), the loss weights (0-d buffers of the method); two device counters say which
step it is (isogen.stages: what the step trains; isogen.cuda_graph: how it is replayed). The step
gathers its slice of each with `index_select`, runs forward, backward and a fused
AdamW whose learning rate is a device tensor, writes its loss terms into row `step` of an (steps, T)
buffer and advances the counters. The host reads that buffer once per epoch.

Under torchrun (`world`, isogen.distributed) every rank draws the epoch's permutation and randomness for the
global batch and keeps its images' share; the gradients are averaged over the ranks after backward, the
loss terms once per epoch. Those steps run eagerly (no CUDA graph): collectives inside a captured graph
are left for when they are measured.

Shapes: N batch (this rank's share), T = 1 + number of loss terms (the total first).
"""
from __future__ import annotations

import math

import torch

from .config import Config
from .cuda_graph import EagerStep, GraphedStep
from .data import as_float
from .distributed import SINGLE, Single
from .methods import Method
from .models import LatentModel
from .runs import generator
from .stages import DecoderStage, EncoderStage

Stage = EncoderStage | DecoderStage


def new_model(method: Method, device: torch.device) -> LatentModel:
    """The method's model with its initial weights (from torch's global seed), on `device`, in the
    configured memory layout: what training, the plan and the benchmarks all step."""
    layout = torch.channels_last if method.config.channels_last else torch.contiguous_format
    return method.build_model().to(device, memory_format=layout)


def learning_rate(step: int, config: Config, total_steps: int, peak: float = 0.0) -> float:
    """Linear warm-up to `peak` (0: config.lr), then cosine decay to peak * min_lr_ratio at total_steps."""
    peak = peak or config.lr
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return peak * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


class Engine:
    """One stage's optimiser and step (isogen.stages). `begin_epoch(e)`, then `step()` steps_per_epoch times,
    then `end_epoch()` -> the epoch's (steps, T) loss terms on the CPU (the one sync of the epoch)."""

    def __init__(self, stage: Stage, model: LatentModel, images: torch.Tensor, config: Config,
                 world: Single = SINGLE):
        self.stage, self.model, self.images, self.config = stage, model, images, config  # images (n, 28, 28) uint8
        self.world, self.device = world, images.device
        self.steps_per_epoch = len(images) // config.batch_size
        self.first_epoch = stage.first_epoch  # the schedule spans this stage's epochs
        self.total_steps = stage.epochs * self.steps_per_epoch
        cuda = self.device.type == "cuda"
        self.autocast = cuda and config.precision == "bf16"
        graphed = cuda and config.cuda_graph and world.size == 1
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.schedule = torch.tensor([learning_rate(s, config, self.total_steps, stage.peak_lr)
                                      for s in range(self.total_steps)], dtype=torch.float32, device=self.device)
        self.lr = self.schedule[0].clone()  # 0-d; the fused AdamW reads it on the device
        self.trained = [p for p in stage.trained(model).parameters() if p.requires_grad]  # not an EMA copy
        self.optimizer = torch.optim.AdamW(self.trained, lr=self.lr, weight_decay=config.weight_decay,
                                           fused=True, capturable=graphed)
        self.global_step = torch.zeros((), dtype=torch.long, device=self.device)
        self.epoch_step = torch.zeros((), dtype=torch.long, device=self.device)
        self.order = torch.zeros(self.steps_per_epoch, config.batch_size // world.size, dtype=torch.long,
                                 device=self.device)
        self.noise: dict[str, torch.Tensor] = {}
        self.terms: torch.Tensor | None = None  # (steps, T), allocated by the first step
        self.term_names: list[str] = []
        self.runner = (GraphedStep(self.train_step, self.optimizer, self.device) if graphed
                       else EagerStep(self.train_step, self.optimizer))

    def load(self, checkpoint: dict) -> None:
        """Continue from a checkpoint written at an epoch boundary (of this stage, or the end of the last)."""
        self.model.load_state_dict(checkpoint["model"])
        if checkpoint.get("stage", "encoder") == self.stage.name:  # else this stage starts with a fresh optimiser
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            for group in self.optimizer.param_groups:  # the saved group carries its own lr tensor and flags
                group.update(lr=self.lr, fused=True, foreach=None, capturable=isinstance(self.runner, GraphedStep))
            self.global_step.fill_((checkpoint["epoch"] - self.first_epoch) * self.steps_per_epoch)

    def begin_epoch(self, epoch: int) -> None:
        """Fill the static buffers with epoch `epoch`'s permutation and randomness, drawn from the
        (seed, "train", epoch) generator in a fixed order: a resumed run draws the same."""
        c = self.config
        self.runner.before_refill()  # steps still queued read the buffers about to be refilled
        rng = generator(self.device, c.seed, "train", epoch)
        order = torch.randperm(len(self.images), generator=rng, device=self.device)
        order = order[:self.steps_per_epoch * c.batch_size].view(self.steps_per_epoch, -1)
        self.order.copy_(self.world.shard(order, c.batch_size))
        for name, value in self.stage.noise(self.model, self.steps_per_epoch, c.batch_size, rng).items():
            value = value if name in self.stage.shared_noise else self.world.shard(value, c.batch_size)
            if name in self.noise:
                self.noise[name].copy_(value)  # in place: a captured graph reads these very buffers
            else:
                self.noise[name] = value
        self.epoch_step.zero_()
        self.stage.start_epoch(self.model, epoch)
        self.runner.after_refill()  # the run's steps start only after these buffers are filled

    def step(self) -> None:
        self.runner()

    def train_step(self) -> None:
        """The step itself, the same eager or captured: reads only device buffers, writes only device buffers."""
        i = self.epoch_step.view(1)
        index = self.order.index_select(0, i)[0]  # (N,) positions in the training split
        x = as_float(self.images.index_select(0, index)).contiguous(memory_format=self.memory_format)
        noise = {name: value.index_select(0, i)[0] for name, value in self.noise.items()}
        # cache_enabled=False: autocast's weight-cast cache must not outlive a captured region
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast, cache_enabled=False):
            terms = self.stage.loss(self.model, x, index, noise)
        loss = self.stage.total(terms)
        loss.backward()
        self.world.average_gradients(self.trained)
        self.lr.copy_(self.schedule.index_select(0, self.global_step.view(1))[0])
        self.optimizer.step()
        self.stage.after_step(self.model)
        values = torch.stack([loss.detach().float(), *(v.detach().float() for v in terms.values())])  # (T,)
        if self.terms is None:
            self.term_names = ["loss", *terms]
            self.terms = torch.zeros(self.steps_per_epoch, len(values), device=self.device)
        self.terms.index_copy_(0, i, values[None])
        self.epoch_step.add_(1)
        self.global_step.add_(1)

    def end_epoch(self) -> torch.Tensor:
        """The epoch's loss terms, (steps, T) float64 on the CPU; columns named by `term_names`."""
        self.runner.drain()
        return self.world.average(self.terms).double().cpu()
