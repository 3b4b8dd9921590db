"""Latent samplers as objects: `fit(codes)` on encoded training data, then `sample(n, generator)`.

Priors ignore `fit`; matched samplers (seeds 002, 004) fit a density to the codes. On the sphere
a sampler's output is re-normalised, so every sample is a valid code. Draws come from a CPU
generator (the same samples on any device) and are then moved to `device`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class Sampler:
    def __init__(self, dim: int, on_sphere: bool):
        self.dim, self.on_sphere = dim, on_sphere

    def fit(self, codes: torch.Tensor) -> Sampler:  # codes: (N, D)
        return self

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, D) float64 draws on the CPU."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        z = self.draw(n, generator)  # (n, D)
        z = F.normalize(z, dim=1) if self.on_sphere else z
        return z.float().to(device)


class Prior(Sampler):
    """N(0, I); on the sphere, eps / ||eps|| is uniform on S^{D-1}."""

    def draw(self, n, generator):
        return torch.randn(n, self.dim, generator=generator, dtype=torch.float64)


class MatchedGaussian(Sampler):
    """A full-covariance Gaussian fitted to the codes (then re-normalised on the sphere)."""

    def fit(self, codes):
        codes = codes.double().cpu()
        self.mean = codes.mean(0)
        cov = torch.cov(codes.T) + 1e-6 * torch.eye(self.dim, dtype=codes.dtype)
        self.cholesky = torch.linalg.cholesky(cov)
        return self

    def draw(self, n, generator):
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.mean + eps @ self.cholesky.T


class VonMisesFisher(Sampler):
    """vMF(mu, kappa) on S^{D-1}: mean direction and concentration fitted to unit codes.

    kappa from the approximation of Banerjee et al. (2005): kappa = R (D - R^2) / (1 - R^2),
    R = ||mean z||; sampling by Wood's (1994) rejection scheme for the component along mu.
    """

    def fit(self, codes):
        codes = F.normalize(codes.double().cpu(), dim=1)
        mean = codes.mean(0)
        r = float(mean.norm().clamp(max=1 - 1e-9))
        self.mu = mean / mean.norm()
        self.kappa = r * (self.dim - r**2) / (1 - r**2)
        return self

    def draw(self, n, generator):
        d, kappa = self.dim, max(self.kappa, 1e-8)
        # Wood (1994): w is the cosine of the angle to mu.
        b = (d - 1) / (2 * kappa + math.sqrt(4 * kappa**2 + (d - 1) ** 2))
        x0 = (1 - b) / (1 + b)
        c = kappa * x0 + (d - 1) * math.log(1 - x0**2)
        w = torch.empty(0, dtype=torch.float64)
        while w.numel() < n:
            m = 2 * (n - w.numel()) + 16
            # Beta draws through Gamma ratios, from our generator for reproducibility.
            ga = _gamma(torch.full((m,), (d - 1) / 2, dtype=torch.float64), generator)
            gb = _gamma(torch.full((m,), (d - 1) / 2, dtype=torch.float64), generator)
            beta_draw = ga / (ga + gb)
            u = torch.rand(m, generator=generator, dtype=torch.float64)
            cand = (1 - (1 + b) * beta_draw) / (1 - (1 - b) * beta_draw)
            accept = kappa * cand + (d - 1) * torch.log(1 - x0 * cand) - c >= torch.log(u)
            w = torch.cat([w, cand[accept]])
        w = w[:n, None]  # (n, 1)
        v = torch.randn(n, d, generator=generator, dtype=torch.float64)
        v = F.normalize(v - (v @ self.mu)[:, None] * self.mu, dim=1)  # tangent directions, orthogonal to mu
        return w * self.mu + (1 - w**2).clamp(min=0).sqrt() * v


def _gamma(a: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
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


class GaussianMixture(Sampler):
    """A full-covariance GMM fitted to the codes (RAE's ex-post density estimate)."""

    def __init__(self, dim: int, on_sphere: bool, components: int = 10, seed: int = 0):
        super().__init__(dim, on_sphere)
        self.components, self.seed = components, seed

    def fit(self, codes):
        from sklearn.mixture import GaussianMixture as SkGMM

        self.gmm = SkGMM(self.components, covariance_type="full", reg_covar=1e-5, random_state=self.seed,
                         max_iter=200).fit(codes.double().cpu().numpy())
        return self

    def draw(self, n, generator):
        weights = torch.tensor(self.gmm.weights_, dtype=torch.float64)
        which = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        chol = torch.tensor(np.linalg.cholesky(self.gmm.covariances_))  # (C, D, D)
        means = torch.tensor(self.gmm.means_)  # (C, D)
        return means[which] + torch.einsum("nde,ne->nd", chol[which], eps)


SAMPLERS = {"prior": Prior, "matched": MatchedGaussian, "vmf": VonMisesFisher, "gmm": GaussianMixture}


def make_sampler(name: str, dim: int, on_sphere: bool, components: int = 10, seed: int = 0) -> Sampler:
    if name == "gmm":
        return GaussianMixture(dim, on_sphere, components, seed)
    return SAMPLERS[name](dim, on_sphere)
