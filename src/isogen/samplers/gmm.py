import numpy as np
import torch

from .base import Sampler


class GaussianMixture(Sampler):
    """A full-covariance GMM fitted to the codes (RAE's ex-post density estimate), re-normalised on the
    sphere. EM is scikit-learn's, seeded with config.seed, run to convergence (at most 200 iterations): it
    takes no step budget."""
    config_keys = frozenset({"gmm_components"})

    def __init__(self, geometry, config):
        super().__init__(geometry, config)
        c, d = config.gmm_components, self.dim
        self.seed = config.seed
        self.placeholder("weights", c)  # (C,)
        self.placeholder("means", c, d)  # (C, D)
        self.placeholder("cholesky", c, d, d)  # (C, D, D)

    def estimate(self, codes, generator, budget_steps):
        from sklearn.mixture import GaussianMixture as SkGMM  # here: scikit-learn takes a second to import

        gmm = SkGMM(self.weights.shape[0], covariance_type="full", reg_covar=1e-5, random_state=self.seed,
                    max_iter=200).fit(codes.double().cpu().numpy())
        self.weights = torch.tensor(gmm.weights_)
        self.means = torch.tensor(gmm.means_)
        self.cholesky = torch.tensor(np.linalg.cholesky(gmm.covariances_))

    def draw(self, n, generator):
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.geometry.normalize(self.means[which] + torch.einsum("nde,ne->nd", self.cholesky[which], eps))
