import math

import torch
import torch.nn.functional as F

from .base import Sampler


class VonMisesFisher(Sampler):
    """vMF(mu, kappa) on S^{D-1}: mean direction and concentration fitted to unit codes.

    kappa from the approximation of Banerjee et al. (2005): kappa = R (D - R^2) / (1 - R^2),
    R = ||mean z||; sampling by Wood's (1994) rejection scheme for the component along mu.
    """

    geometries = ("sphere",)

    def __init__(self, geometry, config):
        super().__init__(geometry, config)
        self.placeholder("mu", self.dim)  # (D,) unit
        self.placeholder("kappa")

    def estimate(self, codes, generator, budget_steps):
        codes = F.normalize(codes.double().cpu(), dim=1)
        mean = codes.mean(0)
        r = float(mean.norm().clamp(max=1 - 1e-9))
        self.mu = mean / mean.norm()
        self.kappa = torch.tensor(r * (self.dim - r**2) / (1 - r**2), dtype=torch.float64)

    def draw(self, n, generator):
        d, kappa, mu = self.dim, max(float(self.kappa), 1e-8), self.mu
        # Wood (1994): w is the cosine of the angle to mu.
        b = (d - 1) / (2 * kappa + math.sqrt(4 * kappa**2 + (d - 1) ** 2))
        x0 = (1 - b) / (1 + b)
        c = kappa * x0 + (d - 1) * math.log(1 - x0**2)
        w = torch.empty(0, dtype=torch.float64)
        while w.numel() < n:
            m = 2 * (n - w.numel()) + 16
            # Beta draws through Gamma ratios, from our generator for reproducibility.
            ga = gamma_draws(torch.full((m,), (d - 1) / 2, dtype=torch.float64), generator)
            gb = gamma_draws(torch.full((m,), (d - 1) / 2, dtype=torch.float64), generator)
            beta_draw = ga / (ga + gb)
            u = torch.rand(m, generator=generator, dtype=torch.float64)
            cand = (1 - (1 + b) * beta_draw) / (1 - (1 - b) * beta_draw)
            accept = kappa * cand + (d - 1) * torch.log(1 - x0 * cand) - c >= torch.log(u)
            w = torch.cat([w, cand[accept]])
        w = w[:n, None]  # (n, 1)
        v = torch.randn(n, d, generator=generator, dtype=torch.float64)
        v = F.normalize(v - (v @ mu)[:, None] * mu, dim=1)  # tangent directions, orthogonal to mu
        return self.geometry.normalize(w * mu + (1 - w**2).clamp(min=0).sqrt() * v)


def gamma_draws(a: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gamma(a, 1) draws for a >= 1 by Marsaglia-Tsang, driven by `generator` (torch's own takes none)."""
    d = a - 1 / 3
    c = 1 / torch.sqrt(9 * d)
    out = torch.empty_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while todo.any():
        k = int(todo.sum())
        x = torch.randn(k, generator=generator, dtype=a.dtype)
        u = torch.rand(k, generator=generator, dtype=a.dtype)
        v = (1 + c[todo] * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x**2 + d[todo] - d[todo] * v + d[todo] * torch.log(v.clamp(min=1e-300)))
        idx = todo.nonzero().squeeze(1)
        out[idx[ok]] = (d[todo] * v)[ok]
        todo[idx[ok]] = False
    return out
