"""isogen: isotropic contrastive embeddings as the latent space of a generative model."""

__version__ = "0.1.0"
