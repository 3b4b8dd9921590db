"""How far sampled codes fall from the codes the decoder was trained on: the mean distance from each code to
its nearest training code. For real held-out codes it says how densely the training codes cover the code
distribution; a prior whose points sit much farther out than that decodes codes the decoder never saw."""
from __future__ import annotations

import torch


@torch.no_grad()
def mean_nearest_distance(z: torch.Tensor, reference: torch.Tensor, chunk: int = 1000) -> float:
    """z (N, D), reference (M, D) -> mean over z of min_j ||z_i - reference_j|| (Euclidean; on the sphere the
    chord, a monotone function of the angle)."""
    reference = reference.double()
    nearest = [torch.cdist(z[i:i + chunk].double(), reference).min(1).values for i in range(0, len(z), chunk)]
    return float(torch.cat(nearest).mean())
