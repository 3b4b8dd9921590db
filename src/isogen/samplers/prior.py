from .base import Sampler


class Prior(Sampler):
    """The latent space's own prior: N(0, I), or on the sphere eps / ||eps||, uniform on S^{D-1}."""

    needs_fit = False

    def draw(self, n, generator):
        return self.geometry.prior(n, self.dim, generator)
