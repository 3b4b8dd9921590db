"""What the explorer page needs from one run folder: its encoder and decoder as ONNX graphs, and the test
digits' codes, 2-D map and principal directions.

The page runs the graphs with ONNX Runtime Web, so everything the page computes itself (prior draws,
paths, slider moves, the flow decoder's ODE steps) is written here as data: the geometry's name, the
principal directions with their spreads, the solver and its step count.
Shapes: x (N, 1, 28, 28) in [0, 1]; z (N, D); map (N, 2).
"""
from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import Config
from ..errors import IsogenError
from ..methods import Method
from ..models import LatentModel
from ..runs import generator
from ..sample import encode_images, run_samplers

DIRECTIONS = 5  # principal directions offered as sliders
SAMPLER_DRAWS = 500  # draws of each fitted sampler the page carries (the prior it draws itself, without end)
MAPS = ("pca", "tsne")


@dataclass
class RunExport:
    info: dict  # JSON for the page: geometry, codes, map, directions, samplers' draws, how to decode
    graphs: dict[str, bytes]  # part name -> ONNX model


def b64(array: np.ndarray) -> str:
    """Little-endian bytes of a float32 or uint8 array as base64, the page's typed-array transport."""
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode()


def onnx_graph(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str]) -> bytes:
    """The module traced to ONNX with a free batch axis on every input and output."""
    try:
        import onnx  # noqa: F401 - torch.onnx's TorchScript exporter needs it installed
    except ImportError:
        raise IsogenError("exporting to ONNX needs the onnx package: pip install onnx") from None
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, buffer, dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in inputs + outputs})
    return buffer.getvalue()


class Call(nn.Module):
    """A callable as a module, for tracing; `owner` holds the weights it uses, registered here so that the
    exporter makes them the graph's initializers (weights only reached through a closure are refused)."""

    def __init__(self, function: Callable, owner: nn.Module):
        super().__init__()
        self.function, self.owner = function, owner

    def forward(self, *args):
        return self.function(*args)


def encoder_graph(model: LatentModel) -> bytes:
    """x (N, 1, 28, 28) -> z (N, D): `model.encode`, the code evaluation uses (a VAE's posterior mean)."""
    return onnx_graph(Call(model.encode, model), (torch.zeros(2, 1, 28, 28),), ["x"], ["z"])


def deconv_graphs(model: LatentModel) -> tuple[dict[str, bytes], dict]:
    """A deterministic decoder: one graph z -> its mean image."""
    z = torch.zeros(2, model.embed_dim)
    decode = Call(lambda code: model.decoder.generate(code), model.decoder)
    return {"decoder": onnx_graph(decode, (z,), ["z"], ["image"])}, {"kind": "mean"}


def flow_graphs(model: LatentModel) -> tuple[dict[str, bytes], dict]:
    """The flow decoder: its EMA velocity field v(x, t, z) as a graph; the page integrates the ODE from
    noise x0 at t = 0 to x1 at t = 1 with the same fixed-step solver, guidance and null code."""
    flow = model.decoder
    example = (torch.zeros(2, 1, 28, 28), torch.zeros(2), torch.zeros(2, model.embed_dim))
    velocity = Call(lambda x, t, z: flow.ema(x, t, z).float(), flow)
    how = {"kind": "flow", "steps": flow.steps, "solver": flow.solver, "guidance": flow.guidance,
           "null": flow.null.detach().float().tolist()}
    return {"velocity": onnx_graph(velocity, example, ["x", "t", "z"], ["v"])}, how


# decoder name -> how the page runs it; a decoder missing here cannot be explored yet
PAGE_DECODERS: dict[str, Callable[[LatentModel], tuple[dict[str, bytes], dict]]] = {
    "deconv": deconv_graphs, "flow": flow_graphs}


def principal_directions(codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean (D,), the top-k principal directions (k, D) and the codes' standard deviation along each (k,)."""
    codes = codes.double()
    mean = codes.mean(0)
    _, singular, vh = torch.linalg.svd(codes - mean, full_matrices=False)
    return mean, vh[:k], singular[:k] / (len(codes) - 1) ** 0.5


def map_of(codes: torch.Tensor, kind: str, seed: int) -> np.ndarray:
    """(N, 2) map coordinates: the first two principal components, or t-SNE (initialised from them)."""
    mean, directions, _ = principal_directions(codes, 2)
    pca = ((codes.double() - mean) @ directions.T).numpy()
    if kind == "pca":
        return pca.astype(np.float32)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(codes) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init=pca / pca[:, 0].std() * 1e-4, random_state=seed).fit_transform(
        codes.double().numpy()).astype(np.float32)


def check_run_folder(run_dir: Path) -> None:
    """A clear word for the folders people point at by mistake."""
    if not run_dir.is_dir():
        raise IsogenError(f"{run_dir} does not exist; pass a run folder made by isogen train")
    if (run_dir / "runs").is_dir():
        inside = sorted(p.name for p in (run_dir / "runs").iterdir() if (p / "checkpoint.pt").exists())[:2]
        example = " ".join(str(run_dir / "runs" / name) for name in inside) or f"{run_dir}/runs/<name>"
        raise IsogenError(f"{run_dir} is a study folder, not a run; explore its runs, e.g. isogen explore {example}")


def sampler_draws(run_dir: Path, method: Method, model: LatentModel, seed: int) -> dict[str, str]:
    """SAMPLER_DRAWS codes from each of the run's fitted samplers but the prior, as base64 float32 (n, D)."""
    samplers = run_samplers(run_dir, method, model)  # saved with the run, or fitted now and saved there
    return {name: b64(sampler.sample(SAMPLER_DRAWS, generator(torch.device("cpu"), seed, f"explore-{name}"))
                      .cpu().numpy().astype(np.float32))
            for name, sampler in samplers.items() if name != "prior"}


def export_run(run_dir: Path, run: tuple[Config, Method, LatentModel], images: torch.Tensor, map_kind: str,
               seed: int) -> RunExport:
    """The run (as `runs.load_run` gives it)'s graphs and the page's data about it, for the test digits
    `images` (N, 28, 28) uint8."""
    config, method, model = run
    if config.decoder not in PAGE_DECODERS:
        raise IsogenError(f"{run_dir} has decoder={config.decoder}, which the explorer cannot run in a page yet; "
                          f"it runs {', '.join(PAGE_DECODERS)} (add the decoder's graphs to PAGE_DECODERS)")
    how_to_decode = PAGE_DECODERS[config.decoder]
    graphs, decoding = how_to_decode(model)
    graphs["encoder"] = encoder_graph(model)
    codes = encode_images(model, images)  # (N, D)
    mean, directions, spreads = principal_directions(codes, min(DIRECTIONS, config.embed_dim))
    info = {
        "name": run_dir.name, "method": config.method, "dataset": config.dataset, "dim": config.embed_dim,
        "geometry": model.geometry.name, "encoder": config.encoder, "decoder": config.decoder, "decoding": decoding,
        "codes": b64(codes.numpy().astype(np.float32)), "map": b64(map_of(codes, map_kind, seed)), "map_kind": map_kind,
        "mean": mean.float().tolist(), "directions": directions.float().tolist(), "spreads": spreads.float().tolist(),
        "samplers": method.sampler_names, "draws": sampler_draws(run_dir, method, model, seed),
    }
    return RunExport(info, graphs)
