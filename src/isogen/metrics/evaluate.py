"""`isogen eval RUN`: every metric on the held-out test set, into RUN/metrics.json and RUN/figures/.

Works on any run folder; never imports training code. The metric math lives in the sibling modules; this
one only gathers codes and images, calls them in a fixed order (their random draws come from one
generator, so the order is part of the protocol) and writes the results."""
from __future__ import annotations

import time
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import figures
from ..augment import random_affine
from ..codes import cached_codes, encoder_digest
from ..config import Config
from ..data import Dataset, as_float, load_dataset
from ..errors import IsogenError
from ..files import remove_stale_temporaries, write_json
from ..models import LatentModel
from ..runs import encoder_folder, environment, generator, load_run, resolve_device
from ..sample import decode_codes, run_samplers, write_decoder_draws, write_sample_grid
from .classifier import load_classifier
from .frechet import frechet_between
from .generation import SampleJudge
from .inception import PROTOCOL as INCEPTION_PROTOCOL
from .inception import InceptionFeatures
from .interpolation import interpolation_metrics
from .isotropy import isotropy_metrics
from .nearest import code_neighbourhood, mean_nearest_distance, neighbourhood_under_prior
from .reconstruction import reconstruction_errors
from .representation import probe_accuracies


def option(default: int | bool, help: str, least: int = 0, skip: bool = False) -> Field:
    """A field of EvalOptions with its help (the command line and study specs read both) and the least value it
    takes (0 also where `skip`: 0 turns the measurement off)."""
    return field(default=default, metadata={"help": help, "least": least, "skip": skip})


@dataclass
class EvalOptions:
    """What `isogen eval` and a study measure, and at which n. Inception is the expensive part on a CPU (about
    6 images/s on 2 cores), so it is spent where it counts: KID (unbiased at small n) for the first
    `kid_samplers` samplers of a run, and FID at n = 10k only where a number is compared with the literature."""

    samples: int = option(10000, "images per sampler and for the oracle, judged in classifier features", 10)
    kid_samples: int = option(1000, "Inception KID at this n for the first kid_samplers samplers", 4, skip=True)
    kid_samplers: int = option(1, "how many of the run's samplers, in its order (the prior first), get Inception")
    fid_samples: int = option(0, "Inception FID at this n for the same samplers (the literature's: 10000)", 10,
                              skip=True)
    reconstructions: int = option(10000, "test images decoded from their codes for the reconstruction errors", 1)
    pairs: int = option(1000, "interpolation pairs", 10)
    steps: int = option(9, "frames per path, ends included", 3)
    probe_train: int = option(10000, "training codes for the linear and k-NN probes", 10)
    views: int = option(10000, "test images whose two augmented views measure alignment", 2)
    prdc_samples: int = option(5000, "images for precision / recall / density / coverage", 10)
    nearest_samples: int = option(2000, "codes whose distance to the nearest training code is measured", 1)
    null_draws: int = option(200, "Monte-Carlo draws for the EP p-value", 1)
    maps: bool = option(True, "draw the 3-D / t-SNE code maps (pictures, not metrics: off in studies)")
    seed: int = option(0, "the evaluation's random draws")

    def validate(self) -> EvalOptions:
        """A one-line error for a value out of range or of the wrong type."""
        for f in fields(self):
            value, least, skip = getattr(self, f.name), f.metadata["least"], f.metadata["skip"]
            if isinstance(f.default, bool):
                ok, expected = isinstance(value, bool), "true or false"
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and (value >= least or skip and value == 0)
                expected = f"an integer >= {least}" + (" (0 skips it)" if skip else "")
            if not ok:
                raise IsogenError(f"evaluation option {f.name}={value!r}: use {expected}")
        return self


def evaluate_run(run_dir: str | Path, options: EvalOptions | None = None, device: str = "auto",
                 data: Dataset | None = None, progress: bool = True) -> dict:
    options = options or EvalOptions()
    run_dir = Path(run_dir)
    started = time.perf_counter()
    device = resolve_device(device)
    config, method, model = load_run(run_dir, device)
    # the channels-last layout: the same numbers to float32 rounding; on a 2-core AMD EPYC, one thread under
    # load, decoding 1.3x and the classifier 1.5x faster (most of an evaluation's time besides Inception)
    model = model.to(memory_format=torch.channels_last)
    for folder in (run_dir, run_dir / "figures"):  # an evaluation killed while writing leaves temporaries
        remove_stale_temporaries(folder)
    data = data or load_dataset(config.dataset, config.data_dir)
    rng = generator(torch.device("cpu"), options.seed, "eval")
    say = print if progress else (lambda *a, **k: None)

    train_images, train_labels = data.training_split(config.train_subset)
    codes = cached_codes(encoder_folder(run_dir, config), model, train_images, data.test_images)
    train_codes, test_codes = codes["train"], codes["test"]  # (n_train, D), (10000, D)

    say("isotropy ...")
    views = [augmented_codes(model, data.test_images[:options.views], config,
                             generator(device, options.seed, "views", v)) for v in (0, 1)]
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
    inception = InceptionFeatures(device) if options.kid_samples or options.fid_samples else None
    judge = SampleJudge(data, classifier, inception, options.kid_samples, options.fid_samples, options.prdc_samples,
                        progress)

    say("generation ...")
    metrics["generation"] = {}
    figures_dir = run_dir / "figures"
    reference_codes = test_codes.cpu().double().numpy()

    def code_space(z: torch.Tensor) -> dict:  # where codes sit relative to the real ones (RCG's code FD)
        return {"code_fd": frechet_between(z.cpu().double().numpy(), reference_codes),
                "nearest_train_distance": mean_nearest_distance(z[:options.nearest_samples].cpu(), train_codes.cpu())}

    for k, (name, sampler) in enumerate(run_samplers(run_dir, method, model, data).items()):
        z = sampler.sample(options.samples, generator(torch.device("cpu"), options.seed, f"sample-{name}"))
        metrics["generation"][name] = judge(decode(z), inception=k < options.kid_samplers) | code_space(z)
        write_sample_grid(figures_dir / f"samples-{name}.png", model, sampler, name, config.method,
                          generator(torch.device("cpu"), options.seed, "grid"))
    # The oracle: real codes, decoded. Training codes, not test ones: the test images are the reference
    # their decodings are compared with. Its code-space numbers are the held-out test codes' own.
    real = train_codes[:options.samples]
    metrics["oracle"] = judge(decode(real)) | {
        "code_fd": frechet_between(real.cpu().double().numpy(), reference_codes),
        **code_neighbourhood(test_codes[:options.nearest_samples].cpu(), train_codes.cpu()),
        **neighbourhood_under_prior(model.geometry, len(train_codes), train_codes.shape[1], options.nearest_samples)}
    if model.decoder.stochastic:
        write_decoder_draws(figures_dir / "draws.png", model, test_codes[:8], generator(device, options.seed, "draws"))

    say("interpolation ...")
    pick = torch.randperm(len(test_codes), generator=rng)[:2 * options.pairs]
    metrics["interpolation"] = interpolation_metrics(test_codes[pick[:options.pairs]], test_codes[pick[options.pairs:]],
                                                     model.geometry, options.steps, decode, classifier,
                                                     lambda images: judge(images, inception=options.fid_samples > 0))
    metrics["floor"] = judge.floor()
    metrics["protocol"] = {
        "test_images": len(data.test_images), "dataset": config.dataset,
        "train_images_for_samplers": len(train_images),  # the run's training split
        "inception": INCEPTION_PROTOCOL if judge.inception_n else "skipped",
        "inception_kid_n": options.kid_samples, "inception_fid_n": options.fid_samples,
        "classifier_test_accuracy": accuracy,
        "classifier": "own CNN, penultimate 128-d features (isogen.metrics.classifier)",
        "classifier_sha256": classifier.digest,
        "samples": options.samples, "options": asdict(options), "encoder_sha256": encoder_digest(model),
        "environment": environment(device), "seconds": round(time.perf_counter() - started, 1),
    }
    iso = metrics["isotropy"]
    figures.spectrum(figures_dir / "spectrum.png", iso["eigenvalues"], iso["eigenvalue_spread"], iso["effective_rank"])
    if options.maps:
        shown = torch.randperm(len(test_codes), generator=rng)[:1500]
        figures.code_maps(figures_dir / "sphere3d_tsne.png",
                          F.normalize(test_codes.cpu()[shown].double(), dim=1).numpy(), data.test_labels[shown].numpy())
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

