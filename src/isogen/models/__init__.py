"""Networks: encoders and decoders by name, joined in a LatentModel. Adding one = a class + a line here."""
from collections.abc import Callable

from torch import nn

from ..config import Config
from ..geometry import Geometry
from ..registry import lookup
from .decoders import Decoder, DeconvDecoder
from .encoders import HEAD_NORMS, CNNEncoder, ResNetEncoder
from .flow import FlowDecoder
from .latent import LatentModel, head_dim

ENCODERS: dict[str, Callable[[int, int, type[nn.Module]], nn.Module]] = {"cnn": CNNEncoder, "resnet": ResNetEncoder}
DECODERS: dict[str, type[Decoder]] = {"deconv": DeconvDecoder, "flow": FlowDecoder}


def build_model(config: Config, geometry: Geometry, posterior: bool) -> LatentModel:
    """The encoder (2D outputs for a Gaussian posterior, else D) and the decoder that `config` names.
    Built in this order, so the same seed gives the same initial weights."""
    norm = lookup(HEAD_NORMS, "head_norm", config.head_norm)
    encoder = lookup(ENCODERS, "encoder", config.encoder)(head_dim(config.embed_dim, posterior), config.encoder_width,
                                                          norm)
    decoder = lookup(DECODERS, "decoder", config.decoder).from_config(config)
    return LatentModel(encoder, decoder, geometry, config.embed_dim, posterior)


__all__ = ["DECODERS", "ENCODERS", "HEAD_NORMS", "Decoder", "LatentModel", "build_model"]
