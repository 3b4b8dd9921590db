"""`isogen eval RUN`: every metric of SPEC section 4 on the held-out test set, into RUN/metrics.json
and RUN/figures/. Works on any run folder; never imports training code. The metric math lives in the
sibling modules; this one only gathers codes and images, calls them in a fixed order (their random
draws come from one generator, so the order is part of the protocol) and writes the results."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import figures
from ..augment import random_affine
from ..config import Config
from ..data import Dataset, as_float, load_dataset
from ..files import remove_stale_temporaries, write_json
from ..models import LatentModel
from ..runs import environment, generator, load_run, resolve_device
from ..sample import decode_codes, encode_images, run_samplers, write_decoder_draws, write_sample_grid
from .classifier import load_classifier
from .frechet import frechet_between
from .generation import SampleJudge
from .inception import PROTOCOL as INCEPTION_PROTOCOL
from .inception import InceptionFeatures
from .interpolation import interpolation_metrics
from .isotropy import isotropy_metrics
from .reconstruction import reconstruction_errors
from .representation import probe_accuracies


@dataclass
class EvalOptions:
    fid_samples: int = -1  # Inception FID sample count; -1: 10k on CUDA, 500 on CPU; 0: skip
    samples: int = 10000  # generated samples for classifier metrics
    reconstructions: int = 10000  # test images decoded from their codes for the reconstruction errors
    pairs: int = 1000  # interpolation pairs
    steps: int = 9  # frames per path, ends included
    probe_train: int = 10000  # training codes for the probes
    prdc_samples: int = 5000
    null_draws: int = 200  # Monte-Carlo draws for the EP p-value
    seed: int = 0


def evaluate_run(run_dir: str | Path, options: EvalOptions | None = None, device: str = "auto",
                 data: Dataset | None = None, progress: bool = True) -> dict:
    options = options or EvalOptions()
    run_dir = Path(run_dir)
    started = time.perf_counter()
    device = resolve_device(device)
    config, method, model = load_run(run_dir, device)
    for folder in (run_dir, run_dir / "figures"):  # an evaluation killed while writing leaves temporaries
        remove_stale_temporaries(folder)
    data = data or load_dataset(config.dataset, config.data_dir)
    fid_n = options.fid_samples if options.fid_samples >= 0 else (10000 if device.type == "cuda" else 500)
    fid_n = min(fid_n, len(data.test_images))  # FID compares equal numbers of generated and test images
    rng = generator(torch.device("cpu"), options.seed, "eval")
    say = print if progress else (lambda *a, **k: None)

    train_images, train_labels = data.training_split(config.train_subset)
    train_codes = encode_images(model, train_images)  # (n_train, D)
    test_codes = encode_images(model, data.test_images)  # (10000, D)

    say("isotropy ...")
    views = [augmented_codes(model, data.test_images, config, generator(device, options.seed, "views", v))
             for v in (0, 1)]
    metrics: dict = {"isotropy": isotropy_metrics(test_codes.cpu(), *views, rng, null_draws=options.null_draws)}

    say("representation ...")
    probe_idx = torch.randperm(len(train_codes), generator=rng)[:options.probe_train]
    metrics["representation"] = probe_accuracies(train_codes[probe_idx].cpu().numpy(),
                                                 train_labels[probe_idx].numpy(),
                                                 test_codes.cpu().numpy(), data.test_labels.numpy())
    def decode(z: torch.Tensor, noise_group: int = 1) -> torch.Tensor:  # codes -> images on the CPU
        return decode_codes(model, z, generator(device, options.seed, "decode"), noise_group).cpu()

    first = slice(0, options.reconstructions)
    metrics["reconstruction"] = reconstruction_errors(decode(test_codes[first]), as_float(data.test_images[first]))

    say("classifier ...")
    classifier, accuracy = load_classifier(data, device)
    judge = SampleJudge(data, classifier, InceptionFeatures(device) if fid_n > 0 else None, fid_n,
                        options.prdc_samples, progress)

    say("generation ...")
    metrics["generation"] = {}
    figures_dir = run_dir / "figures"
    reference_codes = test_codes.cpu().double().numpy()
    for name, sampler in run_samplers(run_dir, method, model, data).items():
        z = sampler.sample(options.samples, generator(torch.device("cpu"), options.seed, f"sample-{name}"))
        # code_fd: the Frechet distance between sampled and real codes (RCG's representation FD)
        metrics["generation"][name] = judge(decode(z)) | {"code_fd": frechet_between(z.cpu().double().numpy(),
                                                                                      reference_codes)}
        write_sample_grid(figures_dir / f"samples-{name}.png", model, sampler, name, config.method,
                          generator(torch.device("cpu"), options.seed, "grid"))
    # The oracle: real codes, decoded. Training codes, not test ones: the test images are the reference
    # their decodings would be compared with.
    real = train_codes[:options.samples]
    metrics["oracle"] = judge(decode(real)) | {"code_fd": frechet_between(real.cpu().double().numpy(), reference_codes)}
    if model.decoder.stochastic:
        write_decoder_draws(figures_dir / "draws.png", model, test_codes[:8], generator(device, options.seed, "draws"))

    say("interpolation ...")
    pick = torch.randperm(len(test_codes), generator=rng)[:2 * options.pairs]
    metrics["interpolation"] = interpolation_metrics(test_codes[pick[:options.pairs]], test_codes[pick[options.pairs:]],
                                                     model.geometry, options.steps, decode, classifier, judge)
    metrics["floor"] = judge.floor()
    metrics["protocol"] = {
        "test_images": len(data.test_images), "dataset": config.dataset,
        "train_images_for_samplers": len(train_images),  # the run's training split
        "inception": INCEPTION_PROTOCOL if judge.inception else "skipped (--fid-samples 0)",
        "inception_fid_n": fid_n, "classifier_test_accuracy": accuracy,
        "classifier": "own CNN, penultimate 128-d features (isogen.metrics.classifier)",
        "samples": options.samples, "options": asdict(options),
        "environment": environment(device), "seconds": round(time.perf_counter() - started, 1),
    }
    iso = metrics["isotropy"]
    figures.spectrum(figures_dir / "spectrum.png", iso["eigenvalues"], iso["eigenvalue_spread"], iso["effective_rank"])
    shown = torch.randperm(len(test_codes), generator=rng)[:1500]
    figures.code_maps(figures_dir / "sphere3d_tsne.png", F.normalize(test_codes.cpu()[shown].double(), dim=1).numpy(),
                      data.test_labels[shown].numpy())
    write_json(run_dir / "metrics.json", metrics)
    say(f"metrics: {run_dir / 'metrics.json'}; figures: {figures_dir}")
    return metrics


@torch.no_grad()
def augmented_codes(model: LatentModel, images: torch.Tensor, config: Config, views: torch.Generator,
                    batch_size: int = 1000) -> torch.Tensor:
    """Codes (N, D), on the CPU, of one random affine view of each image, drawn as in training.
    Every batch of `batch_size` images restarts `views`' stream from its initial state, so image i and
    image i + batch_size see the same transform (kept so that alignment stays comparable across runs)."""
    device = next(model.parameters()).device
    x = as_float(images).to(device)
    state = views.get_state()
    out = []
    for i in range(0, len(x), batch_size):
        views.set_state(state)
        out.append(model.encode(random_affine(x[i:i + batch_size], config.affine_ranges(), views)))
    return torch.cat(out).cpu()

