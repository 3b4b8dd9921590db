"""The Kozachenko-Leonenko entropy regulariser, KoLeo (Sablayrolles, Douze, Schmid and Jegou 2019, "Spreading
vectors for similarity search", arXiv 1806.03198; DINOv2 adds it to its objective: Oquab et al. 2023, arXiv
2304.07193). Up to constants and a factor D, the Kozachenko-Leonenko estimate of a distribution's differential
entropy from N samples is the mean log distance of each to its nearest neighbour; minimising its negative,

    L_koleo = -(1 / N) sum_i log min_{j != i} ||z_i - z_j||,

spreads every code away from its nearest one: it levels the codes' local density, which a test of 1-D
projections (SIGReg) barely sees when the codes sit in dense clusters with sparse gaps between them.
"""
import torch

from .batch import LOCAL, Batch


def koleo(z: torch.Tensor, batch: Batch = LOCAL, eps: float = 1e-8) -> torch.Tensor:
    """z: (N, D) codes of one view (a row's other view would be its nearest neighbour), over the whole batch."""
    z = batch.gather(z).float()
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    distances = torch.cdist(z, z).masked_fill(eye, float("inf"))  # (N, N), a row never its own neighbour
    return -torch.log(distances.min(dim=1).values + eps).mean()
