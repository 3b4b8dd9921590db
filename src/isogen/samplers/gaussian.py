import torch

from .base import Sampler


class MatchedGaussian(Sampler):
    """A full-covariance Gaussian fitted to the codes (then re-normalised on the sphere)."""

    def __init__(self, geometry, config):
        super().__init__(geometry, config)
        self.register_buffer("mean", torch.zeros(self.dim, dtype=torch.float64))  # (D,)
        self.register_buffer("cholesky", torch.zeros(self.dim, self.dim, dtype=torch.float64))  # (D, D)

    def estimate(self, codes, generator, budget_steps):
        codes = codes.double().cpu()
        cov = torch.cov(codes.T) + 1e-6 * torch.eye(self.dim, dtype=codes.dtype)
        self.mean.copy_(codes.mean(0))
        self.cholesky.copy_(torch.linalg.cholesky(cov))

    def draw(self, n, generator):
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.geometry.normalize(self.mean + eps @ self.cholesky.T)
