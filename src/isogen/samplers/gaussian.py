import torch

from .base import Sampler


class MatchedGaussian(Sampler):
    """A full-covariance Gaussian fitted to the codes (then re-normalised on the sphere)."""

    def __init__(self, geometry, config):
        super().__init__(geometry, config)
        self.placeholder("mean", self.dim)  # (D,)
        self.placeholder("cholesky", self.dim, self.dim)  # (D, D)

    def estimate(self, codes, generator, budget_steps):
        codes = codes.double().cpu()
        cov = torch.cov(codes.T) + 1e-6 * torch.eye(self.dim, dtype=codes.dtype)
        self.mean = codes.mean(0)
        self.cholesky = torch.linalg.cholesky(cov)

    def draw(self, n, generator):
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.geometry.normalize(self.mean + eps @ self.cholesky.T)
