"""Autoencoder baselines: plain AE (+ GMM sampling), eccentric AE, VAE, beta-VAE, hyperspherical VAE."""
import math

import torch

from ..geometry import SPHERE
from ..losses import eccentric_loss, gaussian_kl, hyperspherical_prior_loss
from .base import Autoencoder, LossWeights


class PlainAE(Autoencoder):
    """No regulariser; generation relies on a density fitted to the codes afterwards (RAE style)."""

    default_samplers = ("matched", "gmm")


class EccentricAE(Autoencoder):
    """AE + lambda * eccentric loss (seed 004). Reconstruction is BCE here (the seed uses L2), as for
    every method of the study, so lambda's scale differs from the seed's."""

    def __init__(self, config):
        super().__init__(config)
        self.weights = LossWeights(eccentric=config.eccentric_weight)

    def regularize(self, h, noise):
        return h, {"eccentric": eccentric_loss(h.float(), self.config.eccentric_mu, self.world)}


class VAE(Autoencoder):
    """Gaussian posterior N(mean, diag var), reparameterised sample decoded, KL to N(0, I) weighted by beta."""

    posterior = True
    beta = 1.0

    def __init__(self, config):
        super().__init__(config)
        self.weights = LossWeights(kl=self.kl_weight())

    def kl_weight(self) -> float:
        return self.beta

    def noise(self, steps, n, generator):
        return {"eps": torch.randn(steps, n, self.config.embed_dim, generator=generator, device=generator.device)}

    def regularize(self, h, noise):
        mean, log_var = h.float().chunk(2, dim=1)  # (N, D) each
        return mean + (0.5 * log_var).exp() * noise["eps"], {"kl": gaussian_kl(mean, log_var)}


class BetaVAE(VAE):
    """VAE with KL weight beta = config.beta (Higgins et al. 2017)."""

    def kl_weight(self):
        return self.config.beta


class HypersphericalVAE(VAE):
    """The hyperspherical-coordinates VAE of seed 002: codes on the sphere (z = normalise(mean + sigma eps),
    the seed's radius sqrt(n) being a scale the decoder absorbs), the batch-statistic prior on the angles
    and radius of the posterior means (gains 1/sqrt(k+1)), weight annealed as sqrt(epoch).

    Deviations: the seed also puts hyperspherical priors on the sigma vectors, whose values it does not
    give; here sigma gets the sigma part of the Gaussian KL, 1/2 sum(s^2 - log s^2 - 1). The prior on the
    batch std of the cosines (hs_std_cos) is our choice. Reconstruction is BCE, as everywhere in isogen.
    """

    geometry = SPHERE
    default_samplers = ("vmf", "matched")

    def __init__(self, config):
        super().__init__(config)
        self.weights = LossWeights(hs_prior=0.0, kl_sigma=0.0)
        self.start_epoch(0)

    def start_epoch(self, epoch):
        c = self.config
        weight = c.hs_weight * min(1.0, math.sqrt((epoch + 1) / c.hs_anneal_epochs))
        self.weights.set("hs_prior", weight)
        self.weights.set("kl_sigma", weight)

    def regularize(self, h, noise):
        mean, log_var = h.float().chunk(2, dim=1)  # (N, D) each
        z = self.geometry.normalize(mean + (0.5 * log_var).exp() * noise["eps"])
        c = self.config
        kl_sigma = 0.5 * (log_var.exp() - log_var - 1).sum(1).mean()
        prior = hyperspherical_prior_loss(mean, c.hs_mean_cos, c.hs_std_cos, self.world)
        return z, {"hs_prior": prior, "kl_sigma": kl_sigma}
