"""Loss functions: one family per file, each a pure function of tensors with its formula."""
from .align_uniform import alignment, uniformity
from .batch import LOCAL, Batch
from .eccentric import eccentric_loss, eccentric_scale
from .epps_pulley import epps_pulley, epps_pulley_closed_form, sphere_cf, trapezoid_grid
from .hyperspherical import from_hyperspherical, hyperspherical_prior_loss, to_hyperspherical
from .infonce import info_nce
from .koleo import koleo
from .reconstruction import reconstruction_bce
from .sigreg import SIGReg
from .sphere_encoder import jitter_on_sphere, latent_consistency, pixel_consistency
from .vae import gaussian_kl

__all__ = [
    "LOCAL", "Batch", "SIGReg", "alignment", "eccentric_loss", "eccentric_scale", "epps_pulley",
    "epps_pulley_closed_form",
    "from_hyperspherical", "gaussian_kl", "hyperspherical_prior_loss", "info_nce", "jitter_on_sphere", "koleo",
    "latent_consistency", "pixel_consistency", "reconstruction_bce", "sphere_cf", "to_hyperspherical",
    "trapezoid_grid", "uniformity",
]
