"""Wang & Isola (ICML 2020): alignment of positive pairs and uniformity on the hypersphere."""
import torch

from .batch import LOCAL, Batch


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """z1, z2: (N, D) unit vectors of the two views.  L_align = mean_n ||z1_n - z2_n||^alpha."""
    return (z1 - z2).norm(dim=1).pow(alpha).mean()


def uniformity(z: torch.Tensor, t: float = 2.0, batch: Batch = LOCAL) -> torch.Tensor:
    """z: (N, D) unit vectors.  L_unif = log mean_{i<j} exp(-t ||z_i - z_j||^2), over the pairs of the whole batch."""
    z = batch.gather(z)
    return torch.pdist(z, p=2).pow(2).mul(-t).exp().mean().log()
