import torch
import torch.nn.functional as F

from .batch import LOCAL, Batch


def info_nce(h: torch.Tensor, temperature: float, batch: Batch = LOCAL) -> torch.Tensor:
    """NT-Xent (SimCLR) over two views.

    h: (2N, D), rows [view 1 of images 1..N; view 2 of images 1..N]; cosine similarities
    s_ij = z_i . z_j / tau with z = h / ||h||; the positive of row i is p(i) = i +- N:
        L = -(1 / 2N) sum_i log( exp(s_{i,p(i)}) / sum_{k != i} exp(s_ik) ).
    Returns a scalar. The negatives are the whole batch's (all rows of every process). In float32 even
    under bf16 autocast (which would run the similarity matmul in bf16: 8 bits of mantissa on logits that
    reach 1/tau = 5), as SIGReg is.
    """
    h = batch.gather(h, blocks=2)  # [view 1 of all images; view 2 of all images]
    two_n = h.shape[0]
    if two_n % 2:
        raise ValueError(f"info_nce needs an even number of rows (two views per image), got {two_n}")
    with torch.autocast(device_type=h.device.type, enabled=False):
        z = F.normalize(h.float(), dim=1)
        logits = z @ z.T / temperature  # (2N, 2N)
        logits = logits.masked_fill(torch.eye(two_n, dtype=torch.bool, device=h.device), float("-inf"))
        positive = torch.arange(two_n, device=h.device).roll(two_n // 2)  # p(i) = (i + N) mod 2N
        return F.cross_entropy(logits, positive)
