"""The registry: a study is a list of these names. Adding a method = one class + one line here."""
from ..config import Config
from ..registry import lookup
from .autoencoders import VAE, BetaVAE, EccentricAE, HypersphericalVAE, PlainAE, SphereAE
from .base import Autoencoder, Contrastive, Method, check_keys
from .contrastive import AlignUniform, InfoNCE, InfoNCEUniform, SIGRegGauss, SIGRegSphere

METHODS: dict[str, type[Method]] = {
    "infonce": InfoNCE,
    "sigreg-sphere": SIGRegSphere,
    "sigreg-gauss": SIGRegGauss,
    "infonce-uniform": InfoNCEUniform,
    "align-uniform": AlignUniform,
    "eccentric-ae": EccentricAE,
    "vae": VAE,
    "beta-vae": BetaVAE,
    "hs-vae": HypersphericalVAE,
    "ae-gmm": PlainAE,
    "sphere-ae": SphereAE,
}


def make_method(config: Config) -> Method:
    return lookup(METHODS, "method", config.method)(config)


__all__ = ["METHODS", "Autoencoder", "Contrastive", "Method", "check_keys", "make_method"]
