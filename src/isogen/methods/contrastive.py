"""Contrastive encoders: InfoNCE alone, with SIGReg (sphere or Gaussian form) or with Wang-Isola uniformity
added, and Wang-Isola's alignment + uniformity in place of InfoNCE."""
import torch.nn.functional as F

from ..geometry import EUCLIDEAN
from ..losses import SIGReg, alignment, info_nce, koleo, uniformity
from .base import Contrastive, LossWeights


class InfoNCE(Contrastive):
    """NT-Xent only: uniformity comes from the negatives alone."""

    config_keys = Contrastive.config_keys | {"temperature"}

    def embedding_terms(self, h, noise):
        return {"infonce": info_nce(h, self.config.temperature, self.world)}


class SIGRegSphere(InfoNCE):
    """The main model: InfoNCE + lambda * SIGReg on normalised embeddings (target N(0,1) or exact Omega_D), and
    optionally + mu * KoLeo on each view's codes (koleo_weight; 0 leaves the term out)."""

    shared_noise = frozenset({"slices"})
    config_keys = InfoNCE.config_keys | {"sigreg_weight", "sigreg_slices", "sigreg_target", "sigreg_knots",
                                         "sigreg_t_max", "sigreg_views", "koleo_weight"}

    def __init__(self, config):
        super().__init__(config)
        c = config
        self.sigreg = SIGReg(self.geometry, c.embed_dim, c.sigreg_slices, self.sigreg_target(), c.sigreg_t_max,
                             c.sigreg_knots)
        self.weights = LossWeights(sigreg=c.sigreg_weight, koleo=c.koleo_weight)

    def sigreg_target(self) -> str:
        return self.config.sigreg_target

    def noise(self, steps, n, generator):
        return super().noise(steps, n, generator) | {"slices": self.sigreg.draw(generator, steps)}  # (steps, D, M)

    def embedding_terms(self, h, noise):
        if self.config.sigreg_views == "separate":  # each view's N embeddings tested on their own, as LeJEPA
            sigreg = sum(self.sigreg(view, noise["slices"], self.world) for view in h.chunk(2)) / 2
        else:  # the 2N embeddings of both views pooled: pairs are correlated, so its null mean is not EP's
            sigreg = self.sigreg(h, noise["slices"], self.world)
        terms = super().embedding_terms(h, noise) | {"sigreg": sigreg}
        if self.config.koleo_weight:  # on the codes (normalised on the sphere, raw in R^D), per view
            codes = [self.geometry.normalize(view.float()) for view in h.chunk(2)]
            terms["koleo"] = sum(koleo(view, self.world) for view in codes) / 2
        return terms


class SIGRegGauss(SIGRegSphere):
    """LeJEPA form: SIGReg on raw embeddings against N(0,1); codes live in R^D, sampled from N(0, I).
    InfoNCE still compares directions. `sigreg_target` does not apply."""

    geometry = EUCLIDEAN
    config_keys = SIGRegSphere.config_keys - {"sigreg_target"}

    def sigreg_target(self):
        return "gauss"


def views(h):
    """The two stacked views' embeddings h (2N, H), normalised: (N, H) each."""
    return F.normalize(h.float(), dim=1).chunk(2)


def two_view_uniformity(z1, z2, t, batch):
    """Wang-Isola uniformity averaged over the two views."""
    return (uniformity(z1, t, batch) + uniformity(z2, t, batch)) / 2


class InfoNCEUniform(InfoNCE):
    """InfoNCE + lambda * L_unif(t): uniformity *added to* InfoNCE as SIGReg is, the like-for-like arm for
    SIGReg (align-uniform *replaces* InfoNCE by alignment + uniformity)."""

    config_keys = InfoNCE.config_keys | {"uniformity_t", "uniformity_weight"}

    def __init__(self, config):
        super().__init__(config)
        self.weights = LossWeights(uniform=config.uniformity_weight)

    def embedding_terms(self, h, noise):
        return super().embedding_terms(h, noise) | {
            "uniform": two_view_uniformity(*views(h), self.config.uniformity_t, self.world)}


class AlignUniform(Contrastive):
    """Wang & Isola (2020): L = L_align(alpha) + L_unif(t), the uniformity averaged over both views."""

    config_keys = Contrastive.config_keys | {"uniformity_t", "alignment_alpha"}

    def embedding_terms(self, h, noise):
        c = self.config
        z1, z2 = views(h)  # (N, D) each
        return {"align": alignment(z1, z2, c.alignment_alpha),
                "uniform": two_view_uniformity(z1, z2, c.uniformity_t, self.world)}
