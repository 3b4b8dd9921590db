"""One run trained over several processes (`torchrun --nproc_per_node N -m isogen train ...`): the global
batch is split across the ranks and every statistic of the batch is taken over all of it, so that loss
and gradient equal those of one process on the same global batch.

Why it is exact. A term that needs the whole batch (InfoNCE's negatives, SIGReg's empirical
characteristic function, uniformity's and eccentricity's pairs, the hyperspherical prior's moments,
BatchNorm's moments) is computed through collectives that carry gradients (torch.distributed.nn), to the
same value on every rank; a term that is a mean over images (reconstruction, KL, alignment, the flow
loss) is computed on the rank's shard. Backward through a collective sums the ranks' gradients, so a
rank holds world_size times the gradient of a whole-batch term and the gradient of its shard's mean of
a per-image term; averaging the gradients over the ranks (`average_gradients`, one all-reduce) gives
exactly the gradient of the global loss for both kinds. Forgetting either half is the classic
1/world_size error (lightly #1920). The randomness is drawn for the whole global batch on every rank
from the same generator, and each rank keeps its images' share: the same draws as one process.

The model is not wrapped in DistributedDataParallel: a method calls the model through its parts
(features, encode, decoder.loss), not one forward, and the step stays a fixed program over buffers;
averaging the gradients explicitly is all DDP would do here.
"""
from __future__ import annotations

import datetime
import os
import tempfile
import warnings
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as collective
from torch import nn

from .errors import IsogenError
from .losses import Batch
from .models.encoders import RunningBatchNorm

# torch 2.14 marks the autograd collectives of torch.distributed.nn deprecated in favour of the private
# _functional_collectives; they are still the public ones, and the same in the older torch of our GPUs.
warnings.filterwarnings("ignore", message="torch.distributed.nn.functional", category=FutureWarning)

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
LAUNCH = "launch with `torchrun --standalone --nproc_per_node N -m isogen train ...`"


class Single(Batch):
    """One process: its batch is the whole batch, and there is nothing to share out, average or broadcast."""

    local_rank = 0

    def device(self, device: torch.device) -> torch.device:
        return device

    def shard(self, value: torch.Tensor, batch: int) -> torch.Tensor:
        return value

    def average_gradients(self, parameters: list[nn.Parameter]) -> None:
        pass

    def average(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def broadcast(self, module: nn.Module) -> None:
        pass

    def prepare(self, model: nn.Module) -> None:
        pass

    def leave(self) -> None:
        pass


SINGLE = Single()


class World(Single):
    """The processes of a torchrun job, as the batch their statistics are taken over."""

    def __init__(self, rank: int, size: int, local_rank: int):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    def device(self, device):
        """A rank's device: its own GPU (cuda:LOCAL_RANK) when training on CUDA."""
        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def mean(self, x):
        return collective.all_reduce(x.mean(0)) / self.size  # equal shards: the mean of the means

    def gather(self, x, blocks=1):
        parts = torch.stack(collective.all_gather(x))  # (world, blocks * n, ...)
        n, rest = x.shape[0] // blocks, x.shape[1:]
        return parts.view(self.size, blocks, n, *rest).transpose(0, 1).reshape(blocks * self.size * n, *rest)

    def shard(self, value: torch.Tensor, batch: int) -> torch.Tensor:
        """(steps, blocks * batch, ...) drawn for the global batch -> (steps, blocks * batch / size, ...): the
        rows of this rank's images in every block."""
        steps, rows, rest = value.shape[0], value.shape[1], value.shape[2:]
        share = batch // self.size
        return value.view(steps, rows // batch, self.size, share, *rest)[:, :, self.rank].reshape(steps, -1, *rest)

    def average_gradients(self, parameters: list[nn.Parameter]) -> None:
        for p in parameters:
            if p.grad is None:  # unused on this rank; the others may have one: keep the collective aligned
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in parameters]
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat.div_(self.size)
        torch._foreach_copy_(grads, torch._utils._unflatten_dense_tensors(flat, grads))

    def average(self, x: torch.Tensor) -> torch.Tensor:
        """A tensor's mean over the ranks (no gradient): the epoch's loss terms, for the log."""
        x = x.clone()
        dist.all_reduce(x)
        return x / self.size

    def broadcast(self, module: nn.Module) -> None:
        """Every rank starts from rank 0's weights and buffers."""
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)

    def prepare(self, model: nn.Module) -> None:
        """BatchNorm layers take their moments over the global batch (running-moment ones, their updates)."""
        for parent in list(model.modules()):
            for name, child in parent.named_children():
                if isinstance(child, RunningBatchNorm):
                    child.batch = self
                elif type(child) in (nn.BatchNorm1d, nn.BatchNorm2d):
                    replacement = GlobalBatchNorm(child.num_features, self, child.eps, child.momentum)
                    replacement.load_state_dict(child.state_dict())
                    setattr(parent, name, replacement.to(child.weight.device))

    def leave(self):
        if dist.is_initialized():
            dist.destroy_process_group()


class GlobalBatchNorm(nn.BatchNorm1d):
    """BatchNorm whose training moments are the global batch's (SyncBatchNorm does this on GPUs only).
    Same parameters, buffers and state-dict keys as the layer it replaces."""

    def __init__(self, num_features: int, world: World, eps: float, momentum: float):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.world = world

    def _check_input_dim(self, input):
        pass  # (N, C) or (N, C, ...)

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        rows = x.float().transpose(0, 1).reshape(x.shape[1], -1).T  # (n * spatial, C)
        mean = self.world.mean(rows)  # (C,)
        var = self.world.mean((rows - mean) ** 2)  # biased, as BatchNorm normalises with
        with torch.no_grad():
            n = self.world.rows(len(rows))
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
            self.num_batches_tracked.add_(1)
        normalised = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return normalised * self.weight.view(shape) + self.bias.view(shape)


def launched_by_torchrun() -> bool:
    return any(v in os.environ for v in TORCHRUN_VARIABLES)


def world_from_environment(device: torch.device, timeout_s: float | None = None) -> Single:
    """The torchrun job this process belongs to (process group initialised), or SINGLE when not launched by
    torchrun. Incomplete variables and an unreachable rendezvous are one-line errors."""
    if not launched_by_torchrun():
        return SINGLE
    missing = [v for v in TORCHRUN_VARIABLES if v not in os.environ]
    if missing:
        raise IsogenError(f"incomplete torchrun environment: {', '.join(missing)} not set; {LAUNCH}")
    rank, size, local_rank = (int(os.environ[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if size == 1:
        return SINGLE
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    timeout = float(timeout_s or os.environ.get("ISOGEN_RENDEZVOUS_TIMEOUT", "300"))
    address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        with native_stderr_held():  # c10d logs every failed connection attempt from C++
            dist.init_process_group(backend, rank=rank, world_size=size, timeout=datetime.timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as e:  # DistNetworkError, DistStoreError, timeouts
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise IsogenError(f"rank {rank} of {size} could not join the rendezvous at {address} within {timeout:g} s "
                          f"({reason}); check MASTER_ADDR/MASTER_PORT and that every rank was started") from e
    return World(rank, size, local_rank)


@contextmanager
def native_stderr_held():
    """File descriptor 2 (where C++ logs go) held in a temporary file during the block: passed on if the
    block succeeds, dropped if it raises (its error then says what matters in one line)."""
    with tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        os.write(2, held.read())
