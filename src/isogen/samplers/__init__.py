"""Code samplers by name. Adding one = a Sampler subclass in its own file + a line here + its test."""
from ..config import Config
from ..errors import IsogenError
from ..geometry import Geometry
from ..registry import lookup
from .base import Sampler
from .gaussian import MatchedGaussian
from .gmm import GaussianMixture
from .learned import LearnedFlow
from .prior import Prior
from .vmf import VonMisesFisher

SAMPLERS: dict[str, type[Sampler]] = {
    "prior": Prior,
    "matched": MatchedGaussian,
    "vmf": VonMisesFisher,
    "gmm": GaussianMixture,
    "learned": LearnedFlow,
}


def build_samplers(config: Config, geometry: Geometry, names: list[str]) -> dict[str, Sampler]:
    """Unfitted samplers, in the order of `names`; a name that does not apply to the geometry is an error."""
    out = {}
    for name in names:
        cls = lookup(SAMPLERS, "sampler", name)
        if geometry.name not in cls.geometries:
            raise IsogenError(f"sampler {name!r} draws on {' or '.join(cls.geometries)}, but {config.method}'s codes "
                              f"live in {geometry.name}; choose other samplers")
        out[name] = cls(geometry, config)
    return out


__all__ = ["SAMPLERS", "Sampler", "build_samplers"]
