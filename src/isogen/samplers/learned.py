"""A learned code generator: a flow-matching model over the training codes — RCG's representation
diffusion model (RDM: a residual MLP over representations) scaled to MNIST, with the rectified-flow
objective of the flow decoder instead of diffusion.

Codes are standardised coordinate-wise (mean and std of the training codes, kept as buffers); the flow
carries N(0, I) to them along straight paths, u_t = t u_1 + (1 - t) u_0, the MLP regressing u_1 - u_0;
a draw integrates the ODE (flow_steps steps of flow_solver), is unstandardised and put back on the
latent space (normalised on the sphere). Trained for `budget_steps` AdamW steps on batches of 256
codes, learning rate 1e-3 with a cosine decay to zero; all of its randomness — initial weights
included — comes from the generator given to `fit`, so a fit repeats exactly.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..models.flow import flow_matching, timestep_embedding
from .base import Sampler

BATCH, LR = 256, 1e-3


@contextmanager
def seeded(seed: int):
    """Draw from the CPU's global RNG at `seed` (the weights are made there) without disturbing it for anyone
    else; CUDA's generators are left alone (torch.manual_seed would reseed them too, and fork_rng(devices=[])
    would not restore them)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm, self.inner, self.outer = nn.LayerNorm(width), nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return h + self.outer(F.silu(self.inner(self.norm(h) + emb)))


class ResidualMLP(nn.Module):
    """v(u_t, t): (N, D), (N,) -> (N, D); the time embedding enters every block."""

    def __init__(self, dim: int, width: int, depth: int):
        super().__init__()
        self.width = width
        self.embed = nn.Linear(dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(ResidualBlock(width) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))

    def forward(self, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, emb = self.embed(u), self.time(timestep_embedding(t, self.width))  # (N, W) each
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)


class LearnedFlow(Sampler):
    config_keys = frozenset({"code_flow_width", "code_flow_depth", "code_flow_steps", "sampler_fit_steps",
                             "flow_solver"})

    def __init__(self, geometry, config):
        super().__init__(geometry, config)
        with seeded(0):  # placeholder weights (fit re-draws them), without touching the global RNG
            self.net = ResidualMLP(self.dim, config.code_flow_width, config.code_flow_depth)
        self.placeholder("mean", self.dim)  # (D,) of the training codes
        self.placeholder("std", self.dim)
        self.steps, self.solver = config.code_flow_steps, config.flow_solver
        path, self.solve = flow_matching()
        self.path = path()

    def placed(self, device):
        self.to(device)
        return super().placed(device)

    def estimate(self, codes, generator, budget_steps):
        device = codes.device
        codes = codes.float()
        self.mean, self.std = codes.mean(0), codes.std(0).clamp(min=1e-6)
        targets = (codes - self.mean) / self.std  # (N, D), coordinates ~ unit scale
        seed, draws = torch.randint(2**62, (2,), generator=generator).tolist()
        with seeded(seed):
            self.net = ResidualMLP(self.dim, self.net.width, len(self.net.blocks)).to(device)
        rng = torch.Generator(device).manual_seed(draws)  # the steps draw where they train: no copies per step
        optimizer = torch.optim.AdamW(self.net.parameters(), lr=LR, weight_decay=0.0)
        for step in range(budget_steps):
            for group in optimizer.param_groups:
                group["lr"] = LR * 0.5 * (1 + math.cos(math.pi * step / budget_steps))
            pick = torch.randint(len(targets), (BATCH,), generator=rng, device=device)
            u0 = torch.randn(BATCH, self.dim, generator=rng, device=device)
            t = torch.rand(BATCH, generator=rng, device=device)
            sample = self.path.sample(x_0=u0, x_1=targets[pick], t=t)
            loss = (self.net(sample.x_t, sample.t) - sample.dx_t).pow(2).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def draw(self, n, generator):
        device = self.mean.device
        u0 = torch.randn(n, self.dim, generator=generator, device=generator.device).to(device)
        grid = torch.linspace(0, 1, self.steps + 1, device=device)
        u1 = self.solve(lambda x, t: self.net(x, t.expand(len(x)))).sample(
            x_init=u0, step_size=None, method=self.solver, time_grid=grid)
        return self.geometry.normalize(u1 * self.std + self.mean)
