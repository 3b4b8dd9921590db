"""Kernel Inception Distance (Binkowski et al. 2018, arXiv 1801.01401): the unbiased estimate of the squared
MMD between two feature sets under the cubic polynomial kernel k(x, y) = (x.y / F + 1)^3, averaged over
random subsets. Unbiased at any n, so small-n comparisons are valid where FID's are not.

The estimate is torch-fidelity's (`kid_features_to_metric`, the reference implementation of its authors'
protocol); this module only chooses the subsets and names the numbers: `kid` the mean over `subsets` subsets
of `subset_size` rows from each set (min(1000, n // 2): with fewer rows than 2000 the subsets still differ,
so their spread says something), and `kid_std` their standard deviation, the spread of one subset-size
estimate.
"""
from __future__ import annotations

import numpy as np
import torch

SUBSETS = 100


def kid(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict:
    """a (n, F), b (m, F) features -> {"kid", "kid_std", "kid_subset_size"}."""
    # imported here: torch-fidelity loads torchvision's models on import, a second per command that needs no KID
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = min(1000, len(a) // 2, len(b) // 2)
    out = kid_features_to_metric(torch.as_tensor(np.asarray(a, dtype=np.float64)),
                                 torch.as_tensor(np.asarray(b, dtype=np.float64)),
                                 kid_subsets=SUBSETS, kid_subset_size=size, kid_degree=3, kid_gamma=None,
                                 kid_coef0=1, rng_seed=seed, verbose=False)
    return {"kid": out[KEY_METRIC_KID_MEAN], "kid_std": out[KEY_METRIC_KID_STD], "kid_subset_size": size}
