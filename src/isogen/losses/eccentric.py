"""Eccentric regularisation (Li & Blair 2021, arXiv 2104.11610): pairwise repulsion + attraction to the origin.

    K(z_i, z_j) = (||z_i||^2 + ||z_j||^2) / 2 - mu N log(1 + ||z_i - z_j||^2 / N),
    l = 1 / (b (b-1)) sum_{i != j} K(z_i, z_j),
    N = 2 d (1 + 1 / (2 mu (d-1))) / (2 mu - 1),
chosen so that the uniform sphere of radius ~sqrt(d) is a stationary point (Li & Blair 2021, Theorem 1).
"""
import torch

from .batch import LOCAL, Batch


def eccentric_scale(dim: int, mu: float) -> float:
    """N(d, mu) of Li & Blair; needs mu > 1/2."""
    return 2 * dim * (1 + 1 / (2 * mu * (dim - 1))) / (2 * mu - 1)


def eccentric_loss(z: torch.Tensor, mu: float = 1.0, batch: Batch = LOCAL) -> torch.Tensor:
    """z: (b, d) -> scalar, the mean of K over ordered pairs i != j of the whole batch."""
    z = batch.gather(z)
    b, d = z.shape
    scale = eccentric_scale(d, mu)
    sq_norms = z.pow(2).sum(1)  # (b,)
    pair_sq = torch.pdist(z).pow(2)  # (b(b-1)/2,), each unordered pair once
    # Over ordered pairs, sum_{i != j} (|z_i|^2 + |z_j|^2)/2 = (b - 1) sum_i |z_i|^2.
    attraction = sq_norms.sum() * (b - 1) / (b * (b - 1))
    repulsion = mu * scale * torch.log1p(pair_sq / scale).mean()
    return attraction - repulsion
