"""How far sampled codes fall from the codes the decoder was trained on: the mean distance from each code to
its nearest training code. For real held-out codes it says how densely the training codes cover the code
distribution; a prior whose points sit much farther out than that decodes codes the decoder never saw. Both
are read against the same distance for codes that followed the prior exactly (as many training codes, drawn
from it): on the sphere at D = 64 even 60k uniform codes leave a uniform point about 1.0 (a 60-degree chord)
from its nearest one, so a test code much closer than that to a training code says the codes are
concentrated, whatever their 1-D projections look like.

The same two nearest distances give the codes' intrinsic dimension (TwoNN: Facco, d'Errico, Rodriguez and Laio
2017, Scientific Reports 7:12140): for points of locally uniform density on a d-dimensional manifold the ratio
mu = r2 / r1 of the second to the first nearest-neighbour distance is Pareto, P(mu > x) = x^-d, whose maximum
likelihood estimate is d = n / sum(log mu). Codes on a manifold of a few dimensions spread over the sphere can
pass slice-wise uniformity tests, yet a uniform point of S^(D-1) is off that manifold (three lines on distances
computed here anyway, so no dependency such as scikit-dimension for it)."""
from __future__ import annotations

import torch


@torch.no_grad()
def nearest_two(z: torch.Tensor, reference: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    """z (N, D), reference (M, D) disjoint from z -> (N, 2): each row's distances to its nearest and second
    nearest reference point (Euclidean; on the sphere the chord, a monotone function of the angle)."""
    reference = reference.double()
    return torch.cat([torch.cdist(z[i:i + chunk].double(), reference).topk(2, dim=1, largest=False).values
                      for i in range(0, len(z), chunk)])


def mean_nearest_distance(z: torch.Tensor, reference: torch.Tensor, chunk: int = 1000) -> float:
    """The mean over z of min_j ||z_i - reference_j||."""
    return float(nearest_two(z, reference, chunk)[:, 0].mean())


def twonn_dimension(distances: torch.Tensor) -> float:
    """(N, 2) nearest and second-nearest distances -> the TwoNN maximum-likelihood intrinsic dimension. A query
    that coincides with a reference point (a duplicate image's code) has no ratio and is left out, as in Facco et
    al."""
    distances = distances[distances[:, 0] > 0]
    log_ratio = torch.log(distances[:, 1] / distances[:, 0])
    return float(len(log_ratio) / log_ratio.sum())


def code_neighbourhood(z: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Held-out codes z against the training codes: the mean nearest distance and the intrinsic dimension."""
    distances = nearest_two(z, reference)
    return {"nearest_train_distance": float(distances[:, 0].mean()), "intrinsic_dimension": twonn_dimension(distances)}


@torch.no_grad()
def neighbourhood_under_prior(geometry, n_reference: int, dim: int, queries: int, seed: int = 0) -> dict[str, float]:
    """The same if the codes followed the prior: `queries` prior points against `n_reference` others (a function
    of its arguments and seed alone)."""
    generator = torch.Generator().manual_seed(seed)
    reference = geometry.prior(n_reference, dim, generator)
    under = code_neighbourhood(geometry.prior(queries, dim, generator), reference)
    return {"nearest_distance_under_prior": under["nearest_train_distance"],
            "intrinsic_dimension_under_prior": under["intrinsic_dimension"]}
