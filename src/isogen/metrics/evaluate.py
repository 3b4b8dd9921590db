"""`isogen eval RUN`: every metric of SPEC section 4 on the held-out test set, into RUN/metrics.json
and RUN/figures/. Works on any run folder; never imports training code."""
from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..augment import AffineRanges, random_affine
from ..data import Dataset, as_float, load_dataset
from ..files import cache_dir, write_bytes, write_json
from ..runs import environment, generator, load_run, resolve_device
from ..sample import decode_codes, encode_images, fit_samplers, interpolate, write_sample_grid
from .classifier import load_classifier
from .frechet import feature_stats, frechet_between, frechet_distance
from .inception import PROTOCOL as INCEPTION_PROTOCOL
from .inception import InceptionFeatures
from .isotropy import isotropy_metrics
from .prdc import prdc
from .representation import probe_accuracies


@dataclass
class EvalOptions:
    fid_samples: int = -1  # Inception FID sample count; -1: 10k on CUDA, 500 on CPU; 0: skip
    samples: int = 10000  # generated samples for classifier metrics
    pairs: int = 1000  # interpolation pairs
    steps: int = 9  # frames per path, ends included
    probe_train: int = 10000  # training codes for the probes
    prdc_samples: int = 5000
    null_draws: int = 200  # Monte-Carlo draws for the EP p-value
    seed: int = 0
    device: str = "auto"


def evaluate_run(run_dir: str | Path, options: EvalOptions | None = None, progress: bool = True) -> dict:
    options = options or EvalOptions()
    run_dir = Path(run_dir)
    started = time.perf_counter()
    device = resolve_device(options.device)
    config, method, model = load_run(run_dir, device)
    data = load_dataset(config.dataset, config.data_dir or None)
    fid_n = options.fid_samples if options.fid_samples >= 0 else (10000 if device.type == "cuda" else 500)
    fid_n = min(fid_n, len(data.test_images))  # FID compares equal numbers of generated and test images
    rng = generator(torch.device("cpu"), options.seed, "eval")
    say = print if progress else (lambda *a, **k: None)

    n_train = config.train_subset or len(data.train_images)
    train_codes = encode_images(model, data.train_images[:n_train])  # (n_train, D)
    test_codes = encode_images(model, data.test_images)  # (10000, D)
    on_sphere = model.latent == "sphere"

    say("isotropy ...")
    ranges = AffineRanges(config.rotation_deg, config.translate_px, config.scale_frac, config.shear_deg)
    test_x = as_float(data.test_images).to(device)
    with torch.no_grad():
        views = [torch.cat([model.encode(random_affine(test_x[i:i + 1000], ranges, generator(device, options.seed, "views", v)))
                            for i in range(0, len(test_x), 1000)]).cpu() for v in (0, 1)]
    metrics: dict = {"isotropy": isotropy_metrics(test_codes.cpu(), *views, rng, null_draws=options.null_draws)}

    say("representation ...")
    probe_idx = torch.randperm(n_train, generator=rng)[:options.probe_train]
    metrics["representation"] = probe_accuracies(train_codes[probe_idx].cpu().numpy(),
                                                 data.train_labels[:n_train][probe_idx].numpy(),
                                                 test_codes.cpu().numpy(), data.test_labels.numpy())

    recon = decode_codes(model, test_codes).cpu().double()  # (10000, 1, 28, 28)
    target = as_float(data.test_images).double()
    bce = torch.nn.functional.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), target)
    metrics["reconstruction"] = {"mse_per_pixel": float(((recon - target) ** 2).mean()), "bce_per_pixel": float(bce)}

    say("classifier ...")
    classifier, accuracy = load_classifier(data, device)
    test_feats, _ = classifier.features_and_probs(target.float())
    inception = InceptionFeatures(device) if fid_n > 0 else None
    test_inception = inception_test_stats(inception, data, fid_n) if inception else None

    def judge(images: torch.Tensor) -> dict:
        feats, probs = classifier.features_and_probs(images)
        hist = np.bincount(probs.argmax(1), minlength=10) / len(probs)
        out = {"n": len(images), "classifier_fid": frechet_between(feats, test_feats),
               "label_entropy": float(-(hist[hist > 0] * np.log(hist[hist > 0])).sum()),
               "label_entropy_max": math.log(10), "confident_share": float((probs.max(1) > 0.9).mean())}
        sub = min(options.prdc_samples, len(images))
        out.update(prdc(test_feats[:sub], feats[:sub]))
        out["prdc_n"] = sub
        if inception is not None:
            n = min(fid_n, len(images))
            out["inception_fid"] = frechet_distance(*feature_stats(inception(images[:n], progress)),
                                                    *test_inception)
            out["inception_fid_n"] = n
        return out

    say("generation ...")
    samplers = fit_samplers(method, model, data.train_images[:n_train])
    metrics["generation"] = {}
    figures = run_dir / "figures"
    for name, sampler in samplers.items():
        z = sampler.sample(options.samples, generator(torch.device("cpu"), options.seed, f"sample-{name}"), device)
        metrics["generation"][name] = judge(decode_codes(model, z).cpu())
        write_sample_grid(figures / f"samples-{name}.png", model, sampler, name, config.method,
                          generator(torch.device("cpu"), options.seed, "grid"))

    say("interpolation ...")
    pick = torch.randperm(len(test_codes), generator=rng)[:2 * options.pairs]
    z1, z2 = test_codes[pick[:options.pairs]], test_codes[pick[options.pairs:]]
    metrics["interpolation"] = {}
    midpoint_judgements: dict[str, dict] = {}
    for mode in ("lerp", "slerp"):
        paths = interpolate(z1, z2, options.steps, mode, on_sphere)  # (P, S, D)
        frames = decode_codes(model, paths.reshape(-1, paths.shape[-1])).cpu()  # (P*S, 1, 28, 28)
        feats, probs = classifier.features_and_probs(frames)
        p, s = paths.shape[:2]
        pixel_steps = (frames.reshape(p, s, -1).diff(dim=1).norm(dim=2)).double()  # (P, S-1)
        feat_steps = torch.as_tensor(feats).reshape(p, s, -1).diff(dim=1).norm(dim=2)
        shared = "lerp" if on_sphere else mode  # on the sphere both paths pass through the same midpoint
        if shared not in midpoint_judgements:
            midpoints = decode_codes(model, interpolate(z1, z2, 3, mode, on_sphere)[:, 1]).cpu()  # t = 1/2
            midpoint_judgements[shared] = judge(midpoints)
        mid = midpoint_judgements[shared]
        metrics["interpolation"][mode] = {
            "midpoint_classifier_fid": mid["classifier_fid"],
            **({"midpoint_inception_fid": mid["inception_fid"], "midpoint_inception_fid_n": mid["inception_fid_n"]}
               if "inception_fid" in mid else {}),
            "step_evenness_pixels": float((pixel_steps.max(1).values / pixel_steps.mean(1).clamp(min=1e-12)).mean()),
            "step_evenness_features": float((feat_steps.max(1).values / feat_steps.mean(1).clamp(min=1e-12)).mean()),
            "confident_frame_share": float((probs.max(1) > 0.9).mean()),
            "pairs": p, "frames_per_path": s,
        }

    metrics["floor"] = floor(data, classifier, test_feats, inception, test_inception, fid_n)
    metrics["protocol"] = {
        "test_images": len(data.test_images), "dataset": config.dataset, "train_images_for_samplers": n_train,
        "inception": INCEPTION_PROTOCOL if inception else "skipped (--fid-samples 0)",
        "inception_fid_n": fid_n, "classifier_test_accuracy": accuracy,
        "classifier": "own CNN, penultimate 128-d features (isogen.metrics.classifier)",
        "samples": options.samples, "options": asdict(options),
        "environment": environment(device), "seconds": round(time.perf_counter() - started, 1),
    }
    write_figures(figures, metrics, test_codes.cpu(), data.test_labels, rng)
    write_json(run_dir / "metrics.json", metrics)
    say(f"metrics: {run_dir / 'metrics.json'}; figures: {figures}")
    return metrics


def floor(data: Dataset, classifier, test_feats: np.ndarray, inception: InceptionFeatures | None,
          test_inception: tuple | None, n: int) -> dict:
    """The best a generator can hope for: real training images against the test set, at the same n."""
    train_images = as_float(data.train_images[:len(data.test_images)])
    train_feats, _ = classifier.features_and_probs(train_images)
    out = {"classifier_fid": frechet_between(train_feats, test_feats), "n": len(train_images)}
    if inception is not None:
        path = cache_dir() / f"inception-{data.name}-train-n{n}.npz"
        out["inception_fid"] = frechet_distance(*cached_stats(path, lambda: inception(train_images[:n], True)),
                                                *test_inception)
        out["inception_fid_n"] = n
    return out


def cached_stats(path: Path, features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features(), cached in `path`."""
    if path.exists():
        with np.load(path) as saved:
            return saved["mu"], saved["cov"]
    mu, cov = feature_stats(features())
    buffer = io.BytesIO()
    np.savez(buffer, mu=mu, cov=cov)
    write_bytes(path, buffer.getvalue())
    return mu, cov


def inception_test_stats(inception: InceptionFeatures, data: Dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of Inception features of the first n test images, cached per data set and n."""
    return cached_stats(cache_dir() / f"inception-{data.name}-test-n{n}.npz",
                        lambda: inception(as_float(data.test_images[:n]), progress=True))


def write_figures(folder: Path, metrics: dict, codes: torch.Tensor, labels: torch.Tensor,
                  rng: torch.Generator) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    eig = np.array(metrics["isotropy"]["eigenvalues"])
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    ax.semilogy(np.arange(1, len(eig) + 1), eig * len(eig), "o-", ms=3)
    ax.axhline(1, color="gray", ls="--", lw=1, label="isotropic (uniform sphere)")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("D x eigenvalue of cov(z/|z|)")
    iso = metrics["isotropy"]
    ax.set_title(f"spectrum: spread {iso['eigenvalue_spread']:.3g}, eff. rank {iso['effective_rank']:.1f}/{len(eig)}",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, folder / "spectrum.png")

    pick = torch.randperm(len(codes), generator=rng)[:1500]
    z = torch.nn.functional.normalize(codes[pick].double(), dim=1).numpy()
    groups = np.array_split(np.arange(z.shape[1]), 3)
    xyz = np.stack([z[:, g].mean(1) for g in groups], 1)
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)
    colours = labels[pick].numpy()
    fig = plt.figure(figsize=(10, 4.6), dpi=100)
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.scatter(*xyz.T, c=colours, cmap="tab10", s=4)
    ax.set_title("codes: coordinates averaged in 3 groups, normalised", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    embedded = TSNE(init="pca", random_state=0, perplexity=30).fit_transform(z)
    sc = ax2.scatter(*embedded.T, c=colours, cmap="tab10", s=4)
    ax2.set_title("t-SNE of the same 1500 test codes", fontsize=9)
    ax2.set_xticks([])
    ax2.set_yticks([])
    fig.colorbar(sc, ax=ax2, ticks=range(10), label="class")
    fig.tight_layout()
    save_figure(fig, folder / "sphere3d_tsne.png")


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
