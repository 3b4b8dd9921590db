"""The registry: a study is a list of these names. Adding a method = one class + one line here."""
from collections.abc import Iterable

from ..config import Config
from ..errors import IsogenError
from ..models import DECODERS
from ..registry import lookup
from ..samplers import SAMPLERS
from .autoencoders import VAE, BetaVAE, EccentricAE, HypersphericalVAE, PlainAE, SphereAE
from .base import Autoencoder, Contrastive, Method
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


def owners() -> dict[str, frozenset[str]]:
    """Who reads the settings that only some do: every method, decoder and sampler, by name."""
    return {**{name: m.config_keys for name, m in METHODS.items()},
            **{f"decoder={name}": d.config_keys for name, d in DECODERS.items()},
            **{f"sampler {name}": s.config_keys for name, s in SAMPLERS.items()}}


def reads(config: Config) -> set[str]:
    """The selective settings this run's method, decoder and samplers read."""
    method = lookup(METHODS, "method", config.method)  # unknown names: the registry's one-line error
    return set(method.config_keys | lookup(DECODERS, "decoder", config.decoder).config_keys).union(
        *(lookup(SAMPLERS, "sampler", name).config_keys for name in config.sampler_names() or method.default_samplers))


def ignored_keys(config: Config) -> set[str]:
    """The settings this run does not read (another method's, decoder's or sampler's): its results do not depend
    on them, so a saved run still matches a plan that differs only there (a changed default, say)."""
    return set().union(*owners().values()) - reads(config)


def check_keys(config: Config, chosen: Iterable[str]) -> None:
    """The settings a user chose (key=value, a study entry's overrides) that only some methods, decoders or
    samplers read must be read by this run's: otherwise an error naming those that do, not a setting silently
    ignored. (Presets and a study's shared overrides set such keys for every run on purpose: not checked.)"""
    for key in sorted(set(chosen) & ignored_keys(config)):
        users = ", ".join(owner for owner, keys in owners().items() if key in keys)
        method = METHODS[config.method]
        raise IsogenError(f"{key} does not apply to {config.method} with decoder={config.decoder} and samplers "
                          f"{config.samplers or ', '.join(method.default_samplers)}: only {users} read it; drop it")


__all__ = ["METHODS", "Autoencoder", "Contrastive", "Method", "check_keys", "ignored_keys", "make_method"]
