"""A conditional flow-matching decoder p(x | z): a small UNet v(x_t, t, z) trained with the rectified-flow
objective on the straight path from noise to image, sampled by integrating dx/dt = v from t = 0 to 1.

For an image x in [0, 1], data x_1 = 2x - 1, noise x_0 ~ N(0, I), t ~ U(0, 1):
    x_t = t x_1 + (1 - t) x_0,   L = sum_pixels (v(x_t, t, z) - (x_1 - x_0))^2, averaged over the batch
(Lipman et al. 2023, conditional OT path; Liu et al. 2023, rectified flow). With probability
flow_drop_prob the code is replaced by a learned null code, so one network gives v(., z) and v(., null)
and sampling may use classifier-free guidance, v = v_null + w (v_z - v_null) (w = 1: no guidance).

The probability path is flow_matching's CondOTProbPath and the ODE solver its ODESolver (torchdiffeq
underneath). The EMA of the weights, which generates, is ours: ema-pytorch reads its step counter and
decay on the host at every update (.item()), which a training step captured as a CUDA graph must not;
here it is a few foreach operations on device tensors, warmed up as min(decay, (1 + k) / (10 + k)).

Reflow (Liu et al. 2023, arXiv 2209.03003) makes a few-step student of a trained decoder: the teacher's ODE
couples each noise x_0 with its image x_1, and the network, started from the teacher's weights, learns the
straight line between the two, so that one or two Euler steps land where many ODE steps did.

Shapes: x (N, 1, 28, 28), t (N,), z (N, D); the UNet works at 28, 14 and 7 pixels with widths w, 2w, 4w.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..errors import IsogenError
from .decoders import Decoder

CPU_CHUNK = 100


def flow_matching() -> tuple[type, type]:
    """flow_matching's CondOTProbPath and ODESolver, imported when a flow is built, so that every other
    command runs on a machine without the package (a GPU machine may have no package registry)."""
    try:
        from flow_matching.path import CondOTProbPath
        from flow_matching.solver import ODESolver
    except ModuleNotFoundError as e:
        raise IsogenError(f"the flow decoder and the learned code sampler need the flow-matching package "
                          f"({e}); pip install flow-matching") from None
    return CondOTProbPath, ODESolver

def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """t (N,) in [0, 1] -> (N, dim): sines and cosines of t at geometrically spaced frequencies."""
    half = dim // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)  # (dim/2,)
    angles = 1000.0 * t.float()[:, None] * frequencies[None]  # (N, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class FiLMBlock(nn.Module):
    """GroupNorm, SiLU, conv; GroupNorm scaled and shifted by the embedding (FiLM), SiLU, conv; plus a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)  # (N, C, 1, 1) each
        return self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift)) + self.skip(x)


class UNet(nn.Module):
    """v(x_t, t, z): 28 -> 14 -> 7 -> 14 -> 28 with skips; time and code enter every block through FiLM."""

    def __init__(self, code_dim: int, width: int):
        super().__init__()
        w, e = width, 4 * width
        self.width = w
        self.time = nn.Sequential(nn.Linear(w, e), nn.SiLU(), nn.Linear(e, e))
        self.code = nn.Sequential(nn.Linear(code_dim, e), nn.SiLU(), nn.Linear(e, e))
        self.stem = nn.Conv2d(1, w, 3, padding=1)
        self.down1, self.down2 = FiLMBlock(w, w, e), FiLMBlock(w, 2 * w, e)  # 28, 14
        self.middle = FiLMBlock(2 * w, 4 * w, e)  # 7
        self.up2, self.up1 = FiLMBlock(6 * w, 2 * w, e), FiLMBlock(3 * w, w, e)  # 14, 28
        self.out = nn.Sequential(nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        emb = F.silu(self.time(timestep_embedding(t, self.width)) + self.code(z))  # (N, 4w)
        h28 = self.down1(self.stem(x), emb)  # (N, w, 28, 28)
        h14 = self.down2(F.avg_pool2d(h28, 2), emb)  # (N, 2w, 14, 14)
        h7 = self.middle(F.avg_pool2d(h14, 2), emb)  # (N, 4w, 7, 7)
        u14 = self.up2(torch.cat([F.interpolate(h7, scale_factor=2.0), h14], dim=1), emb)  # (N, 2w, 14, 14)
        u28 = self.up1(torch.cat([F.interpolate(u14, scale_factor=2.0), h28], dim=1), emb)  # (N, w, 28, 28)
        return self.out(u28)


class FlowDecoder(Decoder):
    stochastic = True
    config_keys = frozenset({"flow_steps", "flow_solver", "flow_guidance", "flow_drop_prob", "ema_decay"})

    def __init__(self, embed_dim: int, width: int = 32, steps: int = 20, solver: str = "midpoint",
                 guidance: float = 1.0, drop_prob: float = 0.1, ema_decay: float = 0.999):
        super().__init__()
        self.net = UNet(embed_dim, width)
        self.null = nn.Parameter(torch.zeros(embed_dim))  # the code of "no code", learned
        self.ema = UNet(embed_dim, width).requires_grad_(False)
        with torch.no_grad():  # starts equal to the network (a copy; deepcopy breaks on fake tensors)
            torch._foreach_copy_(list(self.ema.parameters()), list(self.net.parameters()))
        self.register_buffer("ema_updates", torch.zeros(()))
        self.steps, self.solver, self.guidance = steps, solver, guidance
        self.drop_prob, self.ema_decay = drop_prob, ema_decay
        path, self.solve = flow_matching()
        self.path = path()

    @classmethod
    def from_config(cls, config: Config) -> FlowDecoder:
        c = config
        return cls(c.embed_dim, c.decoder_width, c.flow_steps, c.flow_solver, c.flow_guidance, c.flow_drop_prob,
                   c.ema_decay)

    def noise(self, steps, n, generator):
        device = generator.device
        return {"flow_x0": torch.randn(steps, n, 1, 28, 28, generator=generator, device=device),
                "flow_t": torch.rand(steps, n, generator=generator, device=device),
                "flow_keep": torch.rand(steps, n, generator=generator, device=device) >= self.drop_prob}

    def loss(self, z, x, noise):
        sample = self.path.sample(x_0=noise["flow_x0"], x_1=2 * x - 1, t=noise["flow_t"])
        z = torch.where(noise["flow_keep"][:, None], z, self.null[None].to(z.dtype))  # (N, D)
        velocity = self.net(sample.x_t, sample.t, z).float()
        return {"flow_mse": (velocity - sample.dx_t).pow(2).sum((1, 2, 3)).mean()}

    @torch.no_grad()
    def after_step(self):
        self.ema_updates.add_(1)
        k = self.ema_updates
        decay = torch.clamp((1 + k) / (10 + k), max=self.ema_decay)  # 0-d, on the device
        ema, live = list(self.ema.parameters()), list(self.net.parameters())
        torch._foreach_mul_(ema, decay)
        torch._foreach_add_(ema, torch._foreach_mul(live, 1 - decay))

    @torch.no_grad()
    def generate(self, z, generator=None, noise_group=1):
        n = len(z)
        if n % noise_group:
            raise ValueError(f"{n} codes do not split into groups of {noise_group}")
        x0 = torch.randn(n // noise_group, 1, 28, 28, generator=generator,
                         device=generator.device if generator is not None else z.device)
        return self.integrate(x0.to(z.device).repeat_interleave(noise_group, dim=0), z)

    @torch.no_grad()
    def integrate(self, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The image the ODE carries noise x0 (N, 1, 28, 28) to under codes z (N, D), in [0, 1]."""
        n, null = len(z), self.null[None].expand_as(z)

        def velocity(x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
            times = t.expand(len(x))
            if self.guidance == 1:
                return self.ema(x, times, z[rows])
            both = self.ema(torch.cat([x, x]), torch.cat([times, times]), torch.cat([z[rows], null[rows]]))
            conditional, unconditional = both.chunk(2)
            return unconditional + self.guidance * (conditional - unconditional)

        grid = torch.linspace(0, 1, self.steps + 1, device=z.device)
        # on a CPU, chunks of 100 images stay in cache (3x faster than 1000); the noise is drawn already
        chunk = CPU_CHUNK if z.device.type == "cpu" else n
        x1 = torch.cat([self.solve(lambda x, t, i=i: velocity(x, t, slice(i, i + chunk))).sample(
            x_init=x0[i:i + chunk], step_size=None, method=self.solver, time_grid=grid) for i in range(0, n, chunk)])
        return ((x1.float() + 1) / 2).clamp(0, 1)

    def reflow(self, z: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, generator: torch.Generator, steps: int,
               batch_size: int = 64, lr: float = 1e-4, log=None) -> list[float]:
        """Distil this decoder, in place, into a few-step one (reflow) on pairs of noise x0 and the teacher's
        images x1 = integrate(x0, z) (both (N, 1, 28, 28); x1 in [0, 1]): `steps` Adam steps on the straight-
        path loss of random pairs at random t, the network starting from the EMA weights (those that generate),
        the EMA restarting its warm-up. Guidance is left out: the student learns the conditional velocity.
        Returns every step's loss; log(step, mean loss) is called every 100 steps."""
        x1 = 2 * x1 - 1  # the network's [-1, 1]
        with torch.no_grad():
            torch._foreach_copy_(list(self.net.parameters()), list(self.ema.parameters()))
            self.ema_updates.zero_()
        optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        losses = []
        for step in range(steps):
            rows = torch.randint(len(z), (batch_size,), generator=generator, device=generator.device).to(z.device)
            t = torch.rand(batch_size, generator=generator, device=generator.device).to(z.device)
            x_t = t[:, None, None, None] * x1[rows] + (1 - t[:, None, None, None]) * x0[rows]
            loss = (self.net(x_t, t, z[rows]) - (x1[rows] - x0[rows])).pow(2).sum((1, 2, 3)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.after_step()
            losses.append(loss.item())
            if log is not None and (step + 1) % 100 == 0:
                log(step + 1, sum(losses[-100:]) / 100)
        return losses
