"""`isogen explore`: a static page to touch a latent space — a map of the test codes, decoding on hover,
prior samples, paths, principal-direction sliders, draw-and-encode — running the run's own encoder and
decoder in the browser (ONNX Runtime Web), several runs side by side."""
from .export import MAPS, PAGE_DECODERS
from .site import serve, write_explorer

__all__ = ["MAPS", "PAGE_DECODERS", "serve", "write_explorer"]
