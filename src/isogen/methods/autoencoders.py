"""Autoencoder baselines: plain AE (+ GMM sampling), eccentric AE, VAE and beta-VAE."""
import torch

from ..losses import eccentric_loss, gaussian_kl
from .base import Autoencoder


class PlainAE(Autoencoder):
    """No regulariser; generation relies on a density fitted to the codes afterwards (RAE style)."""

    sampler_names = ("matched", "gmm")


class EccentricAE(Autoencoder):
    """AE + lambda * eccentric loss (seed 004). Reconstruction is BCE here (the seed uses L2), as for
    every method of the study, so lambda's scale differs from the seed's."""

    def __init__(self, config):
        super().__init__(config)
        self.weights = {"eccentric": config.eccentric_weight}

    def regularize(self, h, generator):
        return h, {"eccentric": eccentric_loss(h.float(), self.config.eccentric_mu)}


class VAE(Autoencoder):
    """Gaussian posterior N(mean, diag var), reparameterised sample decoded, KL to N(0, I) weighted by beta."""

    posterior = True
    beta = 1.0

    def __init__(self, config):
        super().__init__(config)
        self.weights = {"kl": self.kl_weight()}

    def kl_weight(self) -> float:
        return self.beta

    def regularize(self, h, generator):
        mean, log_var = h.float().chunk(2, dim=1)  # (N, D) each
        eps = torch.randn(mean.shape, generator=generator, device=h.device)
        return mean + (0.5 * log_var).exp() * eps, {"kl": gaussian_kl(mean, log_var)}


class BetaVAE(VAE):
    """VAE with KL weight beta = config.beta (Higgins et al. 2017)."""

    def kl_weight(self):
        return self.config.beta
