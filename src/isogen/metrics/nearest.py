"""How far sampled codes fall from the codes the decoder was trained on: the mean distance from each code to
its nearest training code. For real held-out codes it says how densely the training codes cover the code
distribution; a prior whose points sit much farther out than that decodes codes the decoder never saw. Both
are read against the same distance for codes that followed the prior exactly (as many training codes, drawn
from it): on the sphere at D = 64 even 60k uniform codes leave a uniform point about 1.0 (a 60-degree chord)
from its nearest one, so a test code much closer than that to a training code says the codes are
concentrated, whatever their 1-D projections look like."""
from __future__ import annotations

import torch


@torch.no_grad()
def mean_nearest_distance(z: torch.Tensor, reference: torch.Tensor, chunk: int = 1000) -> float:
    """z (N, D), reference (M, D) -> mean over z of min_j ||z_i - reference_j|| (Euclidean; on the sphere the
    chord, a monotone function of the angle)."""
    reference = reference.double()
    nearest = [torch.cdist(z[i:i + chunk].double(), reference).min(1).values for i in range(0, len(z), chunk)]
    return float(torch.cat(nearest).mean())


@torch.no_grad()
def nearest_distance_under_prior(geometry, n_reference: int, dim: int, queries: int, seed: int = 0) -> float:
    """The mean nearest-neighbour distance if the codes followed the prior: `queries` prior points against
    `n_reference` others (a function of its arguments and seed alone)."""
    generator = torch.Generator().manual_seed(seed)
    reference = geometry.prior(n_reference, dim, generator)
    return mean_nearest_distance(geometry.prior(queries, dim, generator), reference)
