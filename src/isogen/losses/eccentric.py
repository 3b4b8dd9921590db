"""Eccentric regularisation (Li & Blair 2021, arXiv 2104.11610): pairwise repulsion + attraction to the origin.

For a batch of N codes z_i in R^D (the paper's scale constant, which it calls N, is s here):
    K(z_i, z_j) = (||z_i||^2 + ||z_j||^2) / 2 - mu s log(1 + ||z_i - z_j||^2 / s),
    l = 1 / (N (N-1)) sum_{i != j} K(z_i, z_j),
    s = 2 D (1 + 1 / (2 mu (D-1))) / (2 mu - 1),
chosen so that the uniform sphere of radius ~sqrt(D) is a stationary point (Li & Blair 2021, Theorem 1).
"""
import torch

from .batch import LOCAL, Batch


def eccentric_scale(dim: int, mu: float) -> float:
    """s(D, mu), Li & Blair's N; needs mu > 1/2."""
    return 2 * dim * (1 + 1 / (2 * mu * (dim - 1))) / (2 * mu - 1)


def eccentric_loss(z: torch.Tensor, mu: float = 1.0, batch: Batch = LOCAL) -> torch.Tensor:
    """z: (N, D) -> scalar, the mean of K over ordered pairs i != j of the whole batch."""
    z = batch.gather(z)
    n, d = z.shape
    scale = eccentric_scale(d, mu)
    sq_norms = z.pow(2).sum(1)  # (N,)
    pair_sq = torch.pdist(z).pow(2)  # (N(N-1)/2,), each unordered pair once
    # Over ordered pairs, sum_{i != j} (|z_i|^2 + |z_j|^2)/2 = (N - 1) sum_i |z_i|^2.
    attraction = sq_norms.sum() * (n - 1) / (n * (n - 1))
    repulsion = mu * scale * torch.log1p(pair_sq / scale).mean()
    return attraction - repulsion
