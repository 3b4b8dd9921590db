"""The run folder, the unit of reproducibility.

    config.json       the resolved Config
    environment.json  versions, git sha, device
    log.jsonl         one record per epoch (also inside the checkpoint, so a resume rewrites it exactly)
    checkpoint.pt     model, optimiser, epoch, config, log; written atomically after every epoch
    samplers.pt       the fitted code samplers (state dicts by name), written once after training
    samples.png, interpolations.png, metrics.json, figures/ ...
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import torch

from .config import Config
from .errors import IsogenError
from .files import save_torch
from .methods import Method, make_method
from .models import LatentModel
from .samplers import Sampler

CHECKPOINT = "checkpoint.pt"
SAMPLERS = "samplers.pt"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise IsogenError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise IsogenError(f"device {name!r} requested but CUDA is not available; use device=cpu")
    return device


def seed_for(seed: int, purpose: str, index: int = 0) -> int:
    """A stable 63-bit seed for (seed, purpose, index): independent streams that a resume can recreate."""
    digest = hashlib.sha256(f"{seed}/{purpose}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(device: torch.device, seed: int, purpose: str, index: int = 0) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed_for(seed, purpose, index))


def environment(device: torch.device) -> dict:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    return {
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "cpu_threads": torch.get_num_threads(), "git_sha": sha,
    }


CPUINFO = Path("/proc/cpuinfo")


def cpu_name() -> str:
    """The CPU's model name and its widest vector instructions: hosts that share a name ("AMD EPYC") can differ
    in them, and with them in speed; plan's cached step times are keyed by this."""
    first: dict[str, str] = {}  # each key's value for the first processor
    try:
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            first.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name, flags = first.get("model name") or platform.processor(), set(first.get("flags", "").split())
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    return f"{name} ({vectors})" if vectors else name


def encoder_folder(run_dir: Path, config: Config) -> Path:
    """The run folder that trained this run's encoder: its own, or config.encoder_from (relative to it;
    normalised as text, so that the run's own folder need not exist yet)."""
    return Path(os.path.normpath(Path(run_dir) / config.encoder_from)) if config.encoder_from else Path(run_dir)


def load_checkpoint(run_dir: Path) -> dict:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise IsogenError(f"no {CHECKPOINT} in {run_dir}; train first with: isogen train --run-dir {run_dir}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or foreign files raise many kinds of errors
        raise IsogenError(f"{path} cannot be read ({type(e).__name__}); it is corrupt: delete it and "
                          "retrain, or restore it from a copy") from e
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "model" not in checkpoint:
        raise IsogenError(f"{path} is not an isogen checkpoint; point at a run folder made by isogen train")
    return checkpoint


def load_run(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[Config, Method, LatentModel]:
    """Rebuild config, method and trained model (in eval mode) from a run folder alone."""
    checkpoint = load_checkpoint(Path(run_dir))
    config = Config.from_dict(checkpoint["config"], source=f"{run_dir}/{CHECKPOINT}").validate()
    method = make_method(config)
    model = method.build_model()
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as e:
        raise IsogenError(f"the weights in {run_dir}/{CHECKPOINT} do not fit the model its config "
                          f"describes ({str(e).splitlines()[0]}); the file belongs to another run") from e
    return config, method.to(device), model.to(device).eval()


def save_samplers(run_dir: Path, samplers: dict[str, Sampler]) -> None:
    save_torch(Path(run_dir) / SAMPLERS, {name: sampler.state_dict() for name, sampler in samplers.items()})


def load_samplers(run_dir: Path, unfitted: dict[str, Sampler], device: torch.device) -> dict[str, Sampler] | None:
    """`unfitted` (the run's samplers, built from its config) with the fitted state saved in the run folder,
    placed on `device`; None when the folder holds no usable samplers.pt (it is derived data: refit it)."""
    path = Path(run_dir) / SAMPLERS
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        for name, sampler in unfitted.items():
            sampler.load_state_dict(saved[name])
    except Exception as e:  # truncated, foreign or from another sampler list: all mean "fit again"
        print(f"{path} cannot be used ({type(e).__name__}); fitting the samplers again")
        return None
    return {name: sampler.placed(device) for name, sampler in unfitted.items()}
