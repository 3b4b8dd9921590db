"""The study report: one table per question, pictures side by side, the protocol; Markdown and a
self-contained HTML page written from the same list of blocks."""
from __future__ import annotations

import base64
import html
import math
import shutil
from pathlib import Path

import numpy as np

from . import figures
from .files import read_json, read_jsonl, write_text
from .metrics.schema import COLUMNS, value
from .statistics import holm, paired_difference
from .study import StudySpec, collect

QUESTIONS = [
    ("Q1. Do contrastive embeddings become invertible (decodable) when isotropic?",
     "Reconstruction of held-out digits from frozen codes, next to what the codes know (probes) and how "
     "many directions they use.", ["mse", "bce", "probe", "knn", "rank"], None),
    ("Q2. Does isotropy improve generative smoothness?",
     "Samples from the model's prior and paths between test digits (midpoints: lerp and slerp coincide on "
     "the sphere; evenness 1 = equal steps).",
     ["fid_prior", "cfid_prior", "precision", "recall", "confident", "mid_fid", "mid_ifid", "even_lerp",
      "even_slerp", "frames"], None),
    ("Q3. Is the spherical or the Gaussian model better at generating digits?",
     "The same InfoNCE + SIGReg objective with codes on the sphere (uniform prior) or in R^D (N(0, I) prior), "
     "with VAEs as the classical Gaussian reference.",
     ["fid_prior", "fid_matched", "cfid_prior", "cfid_matched", "mse"],
     lambda row: row["label"] in ("sigreg-sphere", "sigreg-sphere-exact", "sigreg-gauss", "vae", "beta-vae",
                                  "hs-vae")),
    ("Q4. How does SIGReg compare with the standard uniformity mechanisms?",
     "Isotropy of the test codes: the EP statistic T against the exact sphere marginal, as T/N (a distance "
     "comparable across N) next to the same for truly uniform codes of the same N and D (their mean over the "
     "cached null draws), then spectrum, uniformity and alignment, next to generation and representation.",
     ["ep_n", "ep_null_n", "spread", "rank", "mrl", "unif", "align", "fid_prior", "probe"], None),
    ("Q5. Is isotropy enough to replace a learned code generator?",
     "Decoding the prior (uniform sphere or N(0, I)), a learned code generator (RCG's representation model: "
     "a flow-matching residual MLP fitted to the training codes) and real training codes (the oracle), with "
     "the deterministic decoder and the flow-matching decoder (entries '-flow'). Code FD: the Frechet distance "
     "between sampled and real test codes (RCG's representation FD). If isotropy is enough, the gap prior - "
     "learned is small for the isotropic encoders and large for the others.",
     ["fid_prior", "fid_learned", "fid_gap", "fid_oracle", "code_fd_prior", "code_fd_learned", "confident",
      "confident_learned"], lambda row: "learned" in row["metrics"]["generation"]),
]
# each: (title, what it compares, its columns, which runs it compares: a predicate on a row, None = all)
# One primary endpoint per question, declared before any study's numbers: the column, and the two entries
# whose per-seed difference A - B answers it (skipped where a study lacks either at two or more seeds).
ENDPOINTS = [
    ("Q1", "mse", "sigreg-sphere", "infonce"),
    ("Q2", "fid_prior", "sigreg-sphere", "infonce"),
    ("Q3", "fid_prior", "sigreg-sphere", "sigreg-gauss"),
    ("Q4", "ep_n", "sigreg-sphere", "infonce-uniform"),
    ("Q5", "fid_gap", "sigreg-sphere-flow", "infonce-flow"),
]


def fmt(values: list, digits: int) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def table(rows: list[dict], keys: list[str], include=None) -> tuple[list, list]:
    """Rows of (entry, D) with mean ± std over seeds of each column; `include` picks the runs (None: all)."""
    groups: dict = {}
    for row in rows:
        if row["group"] == "main" and (include is None or include(row)):
            groups.setdefault((row["label"], row["dim"]), []).append(row["metrics"])
    header = ["method", "D", "seeds"] + [COLUMNS[k].title for k in keys]
    body = [[label, str(dim), str(len(ms))]
            + [fmt([value(m, COLUMNS[k].path) for m in ms], COLUMNS[k].digits) for k in keys]
            for (label, dim), ms in groups.items()]
    return header, body


def endpoint_table(rows: list[dict]) -> tuple[list, list]:
    """The declared endpoints the study has runs for, at each D: paired difference over seeds with its 95%
    interval, the paired t-test's p and its Holm adjustment across everything in the table."""
    tests = []
    for question, key, *arms in ENDPOINTS:
        for dim in sorted({row["dim"] for row in rows}):
            a, b = ({row["seed"]: value(row["metrics"], COLUMNS[key].path) for row in rows
                     if row["group"] == "main" and row["label"] == label and row["dim"] == dim} for label in arms)
            difference = paired_difference(a, b)
            if difference is not None:
                tests.append((question, COLUMNS[key].title, " − ".join(arms), dim, difference))
    header = ["question", "endpoint", "A − B", "D", "seeds", "mean difference [95% CI]", "p", "p, Holm"]
    body = [[question, title, arms, str(dim), str(d.n), str(d), f"{d.p:.3g}", f"{adjusted:.3g}"]
            for (question, title, arms, dim, d), adjusted in zip(tests, holm([t[-1].p for t in tests]))]
    return header, body


def write_report(spec: StudySpec, out: Path) -> Path:
    rows = collect(spec, out)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    blocks: list[tuple] = [("h1", f"isogen study: {spec.name}")]
    if not rows:
        blocks.append(("p", "No finished runs yet."))
        return render(blocks, folder)
    blocks.append(("p", protocol_text(spec, rows)))
    floor = rows[0]["metrics"].get("floor", {})
    if floor:
        blocks.append(("p", f"Floor (real training images vs the test set): Inception FID "
                            f"{floor.get('inception_fid', float('nan')):.1f} (n={floor.get('inception_fid_n', '—')}), "
                            f"classifier FID {floor['classifier_fid']:.2f} (n={floor['n']})."))
    header, body = endpoint_table(rows)
    if body:
        blocks += [("h2", "Primary endpoints"),
                   ("p", "One endpoint per question, declared in isogen/report.py (ENDPOINTS) before the numbers: "
                         "the difference A − B paired by seed, its mean with the 95% t-interval, the paired "
                         "t-test's p, and p adjusted by Holm's method across this table."),
                   ("table", header, body)]
    for title, text, keys, include in QUESTIONS:
        header, body = table(rows, keys, include)
        if body:  # a question the study has runs for
            blocks += [("h2", title), ("p", text), ("table", header, body)]
    blocks += pictures(spec, rows, folder)
    return render(blocks, folder)


def protocol_text(spec: StudySpec, rows: list) -> str:
    c = rows[0]["metrics"]["protocol"]
    env = c["environment"]
    config = read_json(rows[0]["dir"] / "config.json")
    train_seconds = sum(sum(r["seconds"] for r in read_jsonl(row["dir"] / "log.jsonl")) for row in rows)
    return (f"Protocol: {len(rows)} runs ({len({r['label'] for r in rows})} methods, D in {spec.dims}, seeds "
            f"{spec.seeds}); training preset '{spec.preset}' with {spec.overrides}: {config['epochs']} epochs, "
            f"batch {config['batch_size']}, {c['train_images_for_samplers']} training images, "
            f"{config['encoder']} encoder (width {config['encoder_width']}), decoder width "
            f"{config['decoder_width']}, lr {config['lr']}. Evaluation on the {c['test_images']} test images: "
            f"{c['samples']} samples per sampler for classifier metrics (classifier test accuracy "
            f"{c['classifier_test_accuracy']:.4f}); Inception FID: {c['inception']}, n={c['inception_fid_n']} "
            f"(biased upward at small n: compare only at equal n). Hardware: {env['device_name']} "
            f"({env['device']}, {env['cpu_threads']} threads), torch {env['torch']}; training wall time "
            f"{train_seconds / 60:.1f} min in all. Numbers are mean ± std over seeds (one value when one seed).")


def pictures(spec: StudySpec, rows: list, folder: Path) -> list[tuple]:
    blocks: list[tuple] = [("h2", "Pictures")]
    main = [r for r in rows if r["group"] == "main" and r["dim"] == spec.dims[0] and r["seed"] == spec.seeds[0]]

    grids = []
    for row in main:  # the prior where the method has one, else its vMF or GMM fit
        samplers = row["metrics"]["generation"]
        sampler = next((name for name in ("prior", "vmf", "gmm") if name in samplers), "matched")
        grids.append((row["dir"] / "figures" / f"samples-{sampler}.png", f"{row['label']} ({sampler})"))
    figures.picture_mosaic(folder / "samples.png", grids)
    blocks.append(("img", "samples.png", f"Decoded samples, D={spec.dims[0]}: the prior where the method has one, "
                                         "else its vMF or GMM fit."))

    q5 = [r for r in main if "learned" in r["metrics"]["generation"]]
    if q5:
        figures.picture_mosaic(folder / "samples-q5.png", [(r["dir"] / "figures" / f"samples-{sampler}.png",
                                                            f"{r['label']} ({sampler})")
                                                           for r in q5 for sampler in ("prior", "learned")], cols=4)
        blocks.append(("img", "samples-q5.png", "Question 5: each encoder and decoder, decoding the prior (left) "
                                                "and the learned code generator (right)."))
        draws = [(r["dir"] / "figures" / "draws.png", r["label"]) for r in q5
                 if (r["dir"] / "figures" / "draws.png").exists()]
        if draws:
            figures.picture_mosaic(folder / "draws.png", draws, cols=2)
            blocks.append(("img", "draws.png", "The flow decoder: several draws for each of 8 test codes — what the "
                                               "code fixes and what the decoder adds."))

    for row in main:
        shutil.copyfile(row["dir"] / "interpolations.png", folder / f"interpolations-{row['label']}.png")
    blocks += [("img", f"interpolations-{r['label']}.png", f"Interpolations: {r['label']}") for r in main
               if r["label"] in ("sigreg-sphere", "infonce", "sigreg-gauss", "vae", "sigreg-sphere-flow")]

    figures.spectra(folder / "spectra.png", {r["label"]: r["metrics"]["isotropy"]["eigenvalues"] for r in main})
    blocks.append(("img", "spectra.png", "Eigen-spectra of the normalised test codes (1 = isotropic)."))

    points = []
    for row in main:  # one point per method: mean over seeds, bars = std (none with one seed)
        seeds = [r["metrics"] for r in rows if r["group"] == "main" and r["dim"] == row["dim"]
                 and r["label"] == row["label"]]
        xs = [value(m, COLUMNS["mse"].path) for m in seeds]
        for sampler in seeds[0]["generation"]:  # each sampler of the run: ae-gmm's GMM point among them
            ys = [value(m, f"generation.{sampler}.inception_fid") for m in seeds]
            if None not in ys:
                bars = len(seeds) > 1
                points.append({"label": row["label"], "sampler": sampler, "x": np.mean(xs), "y": np.mean(ys),
                               "xerr": np.std(xs, ddof=1) if bars else None,
                               "yerr": np.std(ys, ddof=1) if bars else None})
    figures.tradeoff(folder / "tradeoff.png", points)
    over = f"mean ± std over seeds {spec.seeds}" if len(spec.seeds) > 1 else f"seed {spec.seeds[0]}"
    blocks.append(("img", "tradeoff.png", f"Reconstruction vs generation trade-off (as seed 002, Fig. 2); {over}."))

    sensitivity = sensitivity_table(spec, rows)
    if sensitivity:
        figures.sensitivity(folder / "sensitivity.png", sensitivity)
        header = ["parameter", "value", "classifier FID, prior", "linear probe", "EP statistic"]
        body = [[k, str(x), f"{f:.1f}", f"{p:.4f}", f"{e:.2f}"] for k, pts in sensitivity.items() for x, f, p, e in pts]
        blocks += [("h2", f"Sensitivity of {spec.main_entry} (D={spec.dims[0]}, seed {spec.seeds[0]})"),
                   ("table", header, body), ("img", "sensitivity.png", "Sensitivity to lambda, slices and tau.")]
    return blocks


def sensitivity_table(spec: StudySpec, rows: list) -> dict:
    main = next((r for r in rows if r["group"] == "main" and r["label"] == spec.main_entry
                 and r["dim"] == spec.dims[0] and r["seed"] == spec.seeds[0]), None)
    out = {}
    for key in spec.sensitivity:
        points = [r for r in rows if r["group"] == f"sensitivity:{key}"] + ([main] if main else [])
        points = sorted(((float(read_json(r["dir"] / "config.json")[key]),
                          value(r["metrics"], COLUMNS["cfid_prior"].path),
                          value(r["metrics"], COLUMNS["probe"].path), value(r["metrics"], COLUMNS["ep"].path))
                         for r in points), key=lambda p: p[0])
        if len(points) > 1:
            out[key] = points
    return out


def render(blocks: list[tuple], folder: Path) -> Path:
    md, body = [], []
    for kind, *args in blocks:
        if kind in ("h1", "h2"):
            md.append(f"{'#' * int(kind[1])} {args[0]}\n")
            body.append(f"<{kind}>{html.escape(args[0])}</{kind}>")
        elif kind == "p":
            md.append(args[0] + "\n")
            body.append(f"<p>{html.escape(args[0])}</p>")
        elif kind == "table":
            header, rows = args
            md.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
                      + "".join("| " + " | ".join(r) + " |\n" for r in rows))
            body.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                        + "</table>")
        elif kind == "img":
            name, caption = args
            md.append(f"![{caption}]({name})\n\n*{caption}*\n")
            data = base64.b64encode((folder / name).read_bytes()).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    write_text(folder / "report.md", "\n".join(md))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%}figcaption{font-style:italic;font-size:13px}")
    write_text(folder / "report.html", f"<!doctype html><meta charset='utf-8'><title>isogen report</title>"
                                       f"<style>{style}</style>" + "\n".join(body))
    return folder
