"""Contrastive encoders: InfoNCE alone, with SIGReg (sphere or Gaussian form), and Wang-Isola."""
import torch.nn.functional as F

from ..geometry import EUCLIDEAN
from ..losses import SIGReg, alignment, info_nce, uniformity
from .base import Contrastive, LossWeights


class InfoNCE(Contrastive):
    """NT-Xent only: uniformity comes from the negatives alone."""

    def embedding_terms(self, h, noise):
        return {"infonce": info_nce(h, self.config.temperature, self.world)}


class SIGRegSphere(InfoNCE):
    """The main model: InfoNCE + lambda * SIGReg on normalised embeddings (target N(0,1) or exact Omega_D)."""

    shared_noise = frozenset({"slices"})

    def __init__(self, config):
        super().__init__(config)
        c = config
        self.sigreg = SIGReg(self.geometry, c.embed_dim, c.sigreg_slices, self.sigreg_target(), c.sigreg_t_max,
                             c.sigreg_knots)
        self.weights = LossWeights(sigreg=c.sigreg_weight)

    def sigreg_target(self) -> str:
        return self.config.sigreg_target

    def noise(self, steps, n, generator):
        return super().noise(steps, n, generator) | {"slices": self.sigreg.draw(generator, steps)}  # (steps, D, M)

    def embedding_terms(self, h, noise):
        return super().embedding_terms(h, noise) | {"sigreg": self.sigreg(h, noise["slices"], self.world)}


class SIGRegGauss(SIGRegSphere):
    """LeJEPA form: SIGReg on raw embeddings against N(0,1); codes live in R^D, sampled from N(0, I).
    InfoNCE still compares directions. `sigreg_target` does not apply."""

    geometry = EUCLIDEAN

    def sigreg_target(self):
        return "gauss"


class AlignUniform(Contrastive):
    """Wang & Isola (2020): L = L_align(alpha) + L_unif(t), the uniformity averaged over both views."""

    def embedding_terms(self, h, noise):
        z1, z2 = F.normalize(h.float(), dim=1).chunk(2)  # (N, D) each
        c = self.config
        first, second = (uniformity(z, c.uniformity_t, self.world) for z in (z1, z2))
        return {"align": alignment(z1, z2, c.alignment_alpha), "uniform": (first + second) / 2}
