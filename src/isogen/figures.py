"""Every picture isogen draws, each a function from plain data to a PNG file, and the one way to save it.

Run pictures: image grids (samples, interpolation strips). Evaluation: the eigen-spectrum of the codes,
their 3-D view and t-SNE. Study report: the primary endpoints, sample grids side by side, spectra,
the reconstruction vs generation trade-off, the sensitivity curves.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from .files import write_bytes

matplotlib.use("Agg")  # files only, never a window (switches pyplot even after its import)

SPECTRUM_YLABEL = "D x eigenvalue of cov(z/|z|)"


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Write `fig` as a PNG, atomically, and free it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def tile(images: torch.Tensor, nrow: int, padding: int = 2, pad_value: float = 0.5) -> torch.Tensor:
    """(N, 1, H, W) -> one (H', W') image: `nrow` per line, `padding` pixels of `pad_value` around each
    (torchvision's make_grid for one channel, without importing torchvision and its 1.5 s start-up)."""
    n, _, h, w = images.shape
    if n == 1:  # as make_grid: a lone image is drawn without a frame
        return images[0, 0]
    cols, rows = min(nrow, n), -(-n // min(nrow, n))
    grid = torch.full((rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for k in range(n):
        top, left = (k // cols) * (h + padding) + padding, (k % cols) * (w + padding) + padding
        grid[top:top + h, left:left + w] = images[k, 0]
    return grid


def image_grid(path: Path, images: torch.Tensor, nrow: int, title: str, row_labels: list[str] | None = None) -> None:
    """images (N, 1, H, W) in [0, 1] -> a titled grid, `nrow` images per line, optional labels per line."""
    grid = tile(images.cpu().float(), nrow)  # (H', W')
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 40 + (1.6 if row_labels else 0), grid.shape[0] / 40 + 0.6),
                           dpi=100)
    ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([16 + 30 * i for i in range(len(row_labels))], row_labels, fontsize=7)
    else:
        ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)


def spectrum(path: Path, eigenvalues: list[float], spread: float, rank: float) -> None:
    eig = np.array(eigenvalues)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    ax.semilogy(np.arange(1, len(eig) + 1), eig * len(eig), "o-", ms=3)
    ax.axhline(1, color="gray", ls="--", lw=1, label="isotropic (uniform sphere)")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel(SPECTRUM_YLABEL)
    ax.set_title(f"spectrum: spread {spread:.3g}, eff. rank {rank:.1f}/{len(eig)}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def code_maps(path: Path, codes: np.ndarray, labels: np.ndarray) -> None:
    """Unit codes (N, D) by class: coordinates averaged in 3 groups and normalised (a 3-D picture of the
    sphere), beside a t-SNE of the same codes."""
    groups = np.array_split(np.arange(codes.shape[1]), 3)
    xyz = np.stack([codes[:, g].mean(1) for g in groups], 1)
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)
    fig = plt.figure(figsize=(10, 4.6), dpi=100)
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.scatter(*xyz.T, c=labels, cmap="tab10", s=4)
    ax.set_title("codes: coordinates averaged in 3 groups, normalised", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    from sklearn.manifold import TSNE  # here: most commands draw no map

    embedded = TSNE(init="pca", random_state=0, perplexity=30).fit_transform(codes)
    sc = ax2.scatter(*embedded.T, c=labels, cmap="tab10", s=4)
    ax2.set_title(f"t-SNE of the same {len(codes)} test codes", fontsize=9)
    ax2.set_xticks([])
    ax2.set_yticks([])
    fig.colorbar(sc, ax=ax2, ticks=range(10), label="class")
    fig.tight_layout()
    save_figure(fig, path)


def picture_mosaic(path: Path, pictures: list[tuple[Path, str]], cols: int = 5) -> None:
    """Existing PNGs side by side, each with a title; no wider than the pictures need."""
    cols = min(cols, len(pictures))
    lines = -(-len(pictures) // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(3.2 * cols, 3.4 * lines), dpi=90, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (picture, title) in zip(axes.flat, pictures, strict=False):
        ax.imshow(mpimg.imread(picture))
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


ARM_MARKERS = "os^Dv<>"  # with twenty colours, 140 arms before a colour and marker pair repeats


def arm_colour(i: int) -> tuple:
    """tab20's ten dark colours for the first ten arms, then their light twins."""
    return plt.get_cmap("tab20")((2 * i + i // 10) % 20)


def spectra(path: Path, curves: dict[str, list[float]]) -> None:
    """Several eigen-spectra, label -> eigenvalues, on one axis."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for i, (label, eigenvalues) in enumerate(curves.items()):
        eig = np.array(eigenvalues)
        ax.semilogy(np.arange(1, len(eig) + 1), eig * len(eig), label=label, lw=1.2, color=arm_colour(i),
                    ls="-" if i < 10 else "-.")  # the light twins of the first ten colours: told apart by the dash
    ax.axhline(1, color="gray", ls="--", lw=1)
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel(SPECTRUM_YLABEL)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)


def tradeoff(path: Path, points: list[dict], samplers: list[str], ylabel: str) -> None:
    """Reconstruction MSE vs a generation metric, one panel per sampler in the order given, each arm (a point's
    label) one colour and marker in every panel: points with label, sampler, x, y and optional xerr, yerr (None:
    no bars)."""
    samplers = samplers or ["no runs"]
    arms = list(dict.fromkeys(p["label"] for p in points))
    style = {arm: {"color": arm_colour(i), "fmt": ARM_MARKERS[i % len(ARM_MARKERS)]} for i, arm in enumerate(arms)}
    fig, axes = plt.subplots(1, len(samplers), figsize=(2.6 * len(samplers) + 2.2, 3.4), dpi=100, sharex=True,
                             squeeze=False)
    handles = {}
    for ax, sampler in zip(axes[0], samplers, strict=True):
        for p in (q for q in points if q["sampler"] == sampler):
            handles[p["label"]] = ax.errorbar(p["x"], p["y"], xerr=p["xerr"], yerr=p["yerr"], ms=5, lw=0.8,
                                              capsize=2, **style[p["label"]])
        ax.set_title(sampler, fontsize=9)
        ax.set_xlabel("reconstruction MSE", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel(ylabel, fontsize=8)
    right = 1 - 1.9 / fig.get_figwidth()  # room for the arms' legend
    fig.legend([handles[arm] for arm in arms], arms, loc="center left", bbox_to_anchor=(right, 0.5), fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0, right, 1))
    save_figure(fig, path)


def probe_limits(probes: list[float], least_span: float = 0.1) -> tuple[float, float]:
    """The probe axis spans at least `least_span` of accuracy, so that a change of 0.002 does not fill the panel
    as one of 0.07 does (matplotlib's autoscale would stretch either to the full height)."""
    low, high = min(probes), max(probes)
    half = max(0.55 * (high - low), least_span / 2)
    middle = min((low + high) / 2, 1.0 - half)  # accuracy tops out at 1
    return middle - half, middle + half


def sensitivity(path: Path, curves: dict[str, dict], cols: int = 4) -> None:
    """One panel per swept setting (`report_pictures.grid_curves`), log-scaled values: classifier FID and linear
    probe at each value, the main value marked by a dotted line and the FID's seed-to-seed std as a bar there."""
    rows = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows, min(cols, len(curves)), figsize=(4 * min(cols, len(curves)), 3.2 * rows),
                             dpi=100, squeeze=False)
    for ax, (key, curve) in zip(axes.flat, curves.items(), strict=False):  # a last row may have spare axes
        xs, main = [p[0] for p in curve["points"]], curve["main"]
        ax.plot(xs, [p[1] for p in curve["points"]], "o-", color="C0")
        if curve["spread"] is not None:
            fid = next(p[1] for p in curve["points"] if p[0] == main)
            ax.errorbar([main], [fid], yerr=[curve["spread"]], color="C0", capsize=4, lw=1.2)
        ax.axvline(main, color="0.6", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(key)
        ax.set_ylabel(f"classifier FID ({curve['sampler']})", color="C0")
        twin = ax.twinx()
        probes = [p[2] for p in curve["points"]]
        twin.plot(xs, probes, "s--", color="C1")
        twin.set_ylim(*probe_limits(probes))
        twin.set_ylabel("linear probe", color="C1")
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    fig.tight_layout()
    save_figure(fig, path)


def endpoints(path: Path, tests: list[tuple[str, float, float, float, float]]) -> None:
    """One row per endpoint (label, mean, low, high, adjusted p), each on its own scale: the mean difference
    with its interval, zero dashed; blue where the adjusted p is below 0.05."""
    fig, axes = plt.subplots(len(tests), 1, figsize=(7, 0.8 * len(tests) + 0.5), dpi=100, squeeze=False)
    for ax, (label, mean, low, high, p) in zip(axes[:, 0], tests, strict=True):
        ax.errorbar([mean], [0], xerr=[[mean - low], [high - mean]], fmt="o", capsize=4,
                    color="tab:blue" if p < 0.05 else "tab:gray")
        ax.axvline(0, color="black", lw=0.8, ls="--")
        left, right = min(low, 0.0), max(high, 0.0)
        margin = 0.1 * (right - left) or 1.0  # a zero-width interval at zero still gets an axis
        ax.set_xlim(left - margin, right + margin)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(f"{label}   (Holm p = {p:.2g})", fontsize=8, loc="left")
    fig.suptitle("A − B paired by seed, 95% interval", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
