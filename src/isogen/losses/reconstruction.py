import torch
import torch.nn.functional as F


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood of x in [0, 1] under sigmoid(logits), in nats per image:
        L = mean_n sum_pixels [ -x log sigmoid(l) - (1 - x) log(1 - sigmoid(l)) ].
    logits, x: (N, 1, 28, 28) -> scalar.
    """
    return F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none").sum((1, 2, 3)).mean()
