"""Autoencoder baselines: plain AE (+ GMM sampling), eccentric AE, VAE, beta-VAE, hyperspherical VAE, and the
Sphere Encoder."""
import math

import torch

from ..errors import IsogenError
from ..geometry import SPHERE
from ..losses import (
    eccentric_loss,
    gaussian_kl,
    hyperspherical_prior_loss,
    jitter_on_sphere,
    latent_consistency,
    pixel_consistency,
)
from .base import Autoencoder, LossWeights


class PlainAE(Autoencoder):
    """No regulariser; generation relies on a density fitted to the codes afterwards (RAE style)."""

    default_samplers = ("matched", "gmm")


class EccentricAE(Autoencoder):
    """AE + lambda * eccentric loss (Li & Blair 2021). Reconstruction is BCE here (the paper uses L2), as for
    every method of the study, so lambda's scale differs from the paper's."""

    config_keys = frozenset({"eccentric_weight", "eccentric_mu"})

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

    def draw(self, h, noise):
        mean, log_var = h.float().chunk(2, dim=1)  # (N, D) each
        return mean + (0.5 * log_var).exp() * noise["eps"]

    def stage_noise(self, steps, n, generator):
        return self.noise(steps, n, generator)

    def stage_code(self, h, noise):  # the cached codes are the posteriors (N, 2D): a draw of each
        return self.draw(h, noise)

    def regularize(self, h, noise):
        mean, log_var = h.float().chunk(2, dim=1)  # (N, D) each
        return self.draw(h, noise), {"kl": gaussian_kl(mean, log_var)}


class BetaVAE(VAE):
    """VAE with KL weight beta = config.beta (Higgins et al. 2017)."""

    config_keys = frozenset({"beta"})

    def kl_weight(self):
        return self.config.beta


class HypersphericalVAE(VAE):
    """The hyperspherical-coordinates VAE (Ascarate et al. 2025, arXiv 2507.15900): codes on the sphere
    (z = normalise(mean + sigma eps), the paper's radius sqrt(D) being a scale the decoder absorbs), the
    batch-statistic prior on the angles and radius of the posterior means (gains 1/sqrt(k+1)), weight annealed
    as sqrt(epoch).

    Deviations: the paper also puts hyperspherical priors on the sigma vectors, whose values it does not
    give; here sigma gets the sigma part of the Gaussian KL, 1/2 sum(s^2 - log s^2 - 1). The prior on the
    batch std of the cosines (hs_std_cos) is our choice. Reconstruction is BCE, as everywhere in isogen.
    """

    geometry = SPHERE
    default_samplers = ("vmf", "matched")
    config_keys = frozenset({"hs_weight", "hs_mean_cos", "hs_std_cos", "hs_anneal_epochs"})

    def __init__(self, config):
        super().__init__(config)
        self.weights = LossWeights(hs_prior=0.0, kl_sigma=0.0)
        self.start_epoch(0)

    def start_epoch(self, epoch):
        c = self.config
        weight = c.hs_weight * min(1.0, math.sqrt((epoch + 1) / c.hs_anneal_epochs))
        self.weights.set("hs_prior", weight)
        self.weights.set("kl_sigma", weight)

    def draw(self, h, noise):
        return self.geometry.normalize(super().draw(h, noise))

    def regularize(self, h, noise):
        mean, log_var = h.float().chunk(2, dim=1)  # (N, D) each
        z = self.draw(h, noise)
        c = self.config
        kl_sigma = 0.5 * (log_var.exp() - log_var - 1).sum(1).mean()
        prior = hyperspherical_prior_loss(mean, c.hs_mean_cos, c.hs_std_cos, self.world)
        return z, {"hs_prior": prior, "kl_sigma": kl_sigma}


class SphereAE(Autoencoder):
    """The Sphere Encoder (Yue, Jia, Hou, Goldstein 2026, arXiv 2602.15030) scaled to MNIST: an autoencoder whose
    codes are put on the sphere (the paper's RMS normalisation is this up to the radius, which the decoder's
    first layer absorbs), trained so that a uniform point of the sphere decodes to a clean image in one step.
    Each image's code is jittered along a great circle by an angle a ~ U(0, sphere_noise_deg) and by u a
    (u ~ U(0, 1)) towards the same random direction (isogen.losses.sphere_encoder); the decoder reconstructs the
    image from the nearer point (BCE), the farther point's decoding is pulled to the nearer one's (pixel
    consistency) and encodes back to the clean code (latent consistency).

    Deviations: the paper's networks are transformers with a perceptual loss at ImageNet scale; here the shared
    CNN encoder and the deconv decoder with BCE, as every method of the study. Its few-step generation, the
    encode-decode loop, is the sampler option refine_steps, open to every sphere run. The decoder stage decodes
    its clean codes, as every method's but a VAE's: decoding the jittered codes there instead blurred its prior
    samples (D = 64, seed 0: classifier FID 717 against 395; results/bench/decoder-stage/decoder-stage.md)."""

    geometry = SPHERE
    default_samplers = ("prior", "matched")
    config_keys = frozenset({"sphere_noise_deg", "sphere_consistency_weight", "sphere_latent_weight"})

    def __init__(self, config):
        super().__init__(config)
        if config.decoder != "deconv":
            raise IsogenError(f"sphere-ae trains a one-step decoder (its consistency terms decode in the step); "
                              f"decoder={config.decoder!r} is not one: use decoder=deconv")
        self.weights = LossWeights(pixel_consistency=config.sphere_consistency_weight,
                                   latent_consistency=config.sphere_latent_weight)

    def noise(self, steps, n, generator):
        d, device = self.config.embed_dim, generator.device
        angle = torch.rand(steps, n, generator=generator, device=device) * math.radians(self.config.sphere_noise_deg)
        return {"direction": torch.randn(steps, n, d, generator=generator, device=device), "angle": angle,
                "nearer": torch.rand(steps, n, generator=generator, device=device)}

    def objective(self, model, x, noise):
        z = model.to_latent(model.features(x)).float()  # (N, D) on the sphere
        far = jitter_on_sphere(z, noise["direction"], noise["angle"])
        near = jitter_on_sphere(z, noise["direction"], noise["nearer"] * noise["angle"])
        terms = model.decoder.loss(near, x, noise)  # the reconstruction, from the nearer point
        decoded_far, decoded_near = model.decoder.generate(far), model.decoder.generate(near)
        return terms | {"pixel_consistency": pixel_consistency(decoded_far, decoded_near),
                        "latent_consistency": latent_consistency(model.encode(decoded_far), z)}
