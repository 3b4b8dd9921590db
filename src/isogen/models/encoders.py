"""Encoders: x (N, 1, 28, 28) in [0, 1] -> h (N, H), each ending in SimCLR's projection head.

Every encoder is built as `cls(out_dim, width, norm)`, `norm` the head's normalisation (a class of HEAD_NORMS);
register a new encoder in `isogen.models.ENCODERS`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import LOCAL, Batch


class RunningBatchNorm(nn.BatchNorm1d):
    """BatchNorm that normalises with its running moments in training as in evaluation.

    After normalising, a training batch's moments update the running ones (without gradient; a cumulative
    average over the first 1/momentum batches, then the usual moving average), so no code depends on the other
    images of its batch, in training as in evaluation. (It was built to test whether SIGReg is met through
    each batch's moments rather than by each image's code; study-gap found no such effect and no gain at
    D = 8: the codes it leaves far from uniform are clean images', where SIGReg sees views'. See clean_view.)
    The very first batch meets the initial moments (0, 1). Same parameters, buffers and state-dict keys as
    nn.BatchNorm1d.
    """

    batch: Batch = LOCAL  # the rows the moments are taken over (all ranks' under torchrun)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # copies: the buffers change below, and backward reads the moments the forward used
        out = F.batch_norm(x, self.running_mean.clone(), self.running_var.clone(), self.weight, self.bias, False,
                           0.0, self.eps)
        if self.training:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                weight = 1.0 / self.num_batches_tracked  # a device tensor; momentum None: cumulative throughout
                weight = weight if self.momentum is None else torch.clamp(weight, min=self.momentum)
                rows = x.float()
                mean = self.batch.mean(rows)
                var = self.batch.mean((rows - mean) ** 2) * (n := self.batch.rows(len(rows))) / (n - 1)
                self.running_mean.lerp_(mean, weight)
                self.running_var.lerp_(var, weight)
        return out


# the projection head's normalisation (config.head_norm)
HEAD_NORMS: dict[str, type[nn.BatchNorm1d]] = {"batch": nn.BatchNorm1d, "running": RunningBatchNorm}


def projection_head(in_features: int, hidden: int, out_dim: int, norm: type[nn.Module]) -> list[nn.Module]:
    """Linear -> norm -> ReLU -> Linear, SimCLR's projector (norm: BatchNorm, or RunningBatchNorm).

    Why the normalisation: without it the head's inputs are all-positive ReLU features that barely differ
    between images at initialisation, so every code starts at nearly one point (mean cosine 0.995).
    From there SIGReg's statistic is ~N times its null value and its gradient, ~600x InfoNCE's, sets
    Adam's step scale for hundreds of steps while the embedding stays anisotropic.
    """
    return [nn.Linear(in_features, hidden, bias=False), norm(hidden), nn.ReLU(), nn.Linear(hidden, out_dim)]


class CNNEncoder(nn.Sequential):
    """Three convolutions (28 -> 14 -> 7 -> 7) and a projection head.

    The first convolution already strides: full-resolution feature maps would triple the cost on a CPU.
    """

    def __init__(self, out_dim: int, width: int = 32, norm: type[nn.Module] = nn.BatchNorm1d):
        w = width
        super().__init__(
            nn.Conv2d(1, w, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),  # 7x7
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.Flatten(),
            *projection_head(4 * w * 7 * 7, 8 * w, out_dim, norm),
        )


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out
                     else nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(y)) + self.skip(x))


class ResNetEncoder(nn.Sequential):
    """A small ResNet: stem, three stages of two residual blocks (28 -> 14 -> 7), mean pool, projection head."""

    def __init__(self, out_dim: int, width: int = 32, norm: type[nn.Module] = nn.BatchNorm1d):
        w = width
        super().__init__(
            nn.Conv2d(1, w, 3, padding=1, bias=False), nn.GroupNorm(8, w), nn.ReLU(),
            ResidualBlock(w, w, 1), ResidualBlock(w, w, 1),
            ResidualBlock(w, 2 * w, 2), ResidualBlock(2 * w, 2 * w, 1),
            ResidualBlock(2 * w, 4 * w, 2), ResidualBlock(4 * w, 4 * w, 1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            *projection_head(4 * w, 8 * w, out_dim, norm),
        )
