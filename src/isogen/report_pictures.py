"""The study report's pictures, and the series drawn in them: each arm's samples side by side, Question 5's
decoders, paths, spectra, the reconstruction-generation trade-off and each entry's knob. A row is what
`runner.collect` returns for a finished run; `report.py` places these blocks after its tables."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import figures
from .files import read_json
from .metrics.schema import COLUMNS, value
from .runner import main_rows
from .samplers import SAMPLERS
from .study import StudySpec

HEADLINE_SAMPLERS = ("prior", "vmf", "gmm", "matched")  # a method's own prior first, else the fit that stands for it


def headline_sampler(generation: dict) -> str:
    return next(name for name in HEADLINE_SAMPLERS if name in generation)


def pictures(spec: StudySpec, rows: list, folder: Path) -> list[tuple]:
    blocks: list[tuple] = [("h2", "Pictures")]
    first = {}  # the first main run of each entry at the study's first D
    for row in rows:
        if row["run"].varied is None and row["run"].dim == spec.dims[0]:
            first.setdefault(row["run"].entry, row)
    main = list(first.values())
    grids = [(r["dir"] / "figures" / f"samples-{s}.png", f"{r['run'].entry} ({s})")
             for r in main for s in [headline_sampler(r["metrics"]["generation"])]]
    figures.picture_mosaic(folder / "samples.png", grids)
    blocks.append(("img", "samples.png", f"Decoded samples, D={spec.dims[0]}, first seed: the prior where the "
                                         "method has one, else its vMF or GMM fit."))
    q5 = [r for r in main if "learned" in r["metrics"]["generation"]]
    if q5:
        figures.picture_mosaic(folder / "samples-q5.png", [(r["dir"] / "figures" / f"samples-{sampler}.png",
                                                            f"{r['run'].entry} ({sampler})")
                                                           for r in q5 for sampler in ("prior", "learned")], cols=4)
        blocks.append(("img", "samples-q5.png", "Question 5: each encoder and decoder, decoding the prior (left) "
                                                "and the learned code generator (right)."))
        draws = [(r["dir"] / "figures" / "draws.png", r["run"].entry) for r in q5
                 if (r["dir"] / "figures" / "draws.png").exists()]
        if draws:
            figures.picture_mosaic(folder / "draws.png", draws, cols=2)
            blocks.append(("img", "draws.png", "The flow decoder: several draws for each of 8 test codes — what the "
                                               "code fixes and what the decoder adds."))
    for row in main:
        shutil.copyfile(row["dir"] / "interpolations.png", folder / f"interpolations-{row['run'].entry}.png")
    blocks += [("img", f"interpolations-{r['run'].entry}.png", f"Interpolations: {r['run'].entry}") for r in main
               if r["run"].entry in ("sigreg-sphere", "infonce", "sigreg-gauss", "vae", "sigreg-sphere-flow")]
    decoders_only = {e.label for e in spec.entries if e.encoder}  # their codes are another entry's: same spectrum
    figures.spectra(folder / "spectra.png", {r["run"].entry: r["metrics"]["isotropy"]["eigenvalues"] for r in main
                                             if r["run"].entry not in decoders_only})
    blocks.append(("img", "spectra.png", "Eigen-spectra of the normalised test codes (1 = isotropic)."))
    points = tradeoff_points(rows, spec.dims[0], n := spec.eval.samples)
    panels = [name for name in SAMPLERS if any(p["sampler"] == name for p in points)]  # the registry's order
    figures.tradeoff(folder / "tradeoff.png", points, panels, f"classifier FID (n = {n})")
    blocks.append(("img", "tradeoff.png", f"Reconstruction vs generation, one panel per sampler, mean ± std over "
                                          f"seeds, the runs judged on {n} images (Ghosh et al. 2020 draw the same "
                                          "trade-off)."))
    curves = grid_curves(spec, rows)
    if curves:
        figures.sensitivity(folder / "sensitivity.png", curves)
        header = ["entry: setting", "value", "sampler", "classifier FID", "linear probe", "EP T/N"]
        body = [[key, f"{x:g}" + (" (main)" if x == c["main"] else ""), c["sampler"], f"{f:.1f}", f"{p:.4f}",
                 f"{e:.5f}"] for key, c in curves.items() for x, f, p, e in c["points"]]
        blocks += [("h2", "Each entry's knob (first D and seed)"), ("table", header, body),
                   ("img", "sensitivity.png", "Classifier FID of decoded samples (each entry's prior, else its vMF "
                                              "or GMM fit) and linear probe along each grid; the bar at the main "
                                              "value: ± the FID's std over the main run's seeds.")]
    return blocks


def tradeoff_points(rows: list[dict], dim: int, n: int) -> list[dict]:
    """One point per entry at `dim` and sampler judged on n images: reconstruction MSE and classifier FID, mean ±
    std over seeds (FID is biased by n, so a sampler judged on fewer images stays out of the picture)."""
    points = []
    for (label, run_dim), seeds in main_rows(rows).items():
        if run_dim != dim:
            continue
        xs = [value(m, COLUMNS["mse"].path) for m in seeds]
        for sampler in (s for s, g in seeds[0]["generation"].items() if g["n"] == n):
            ys = [value(m, f"generation.{sampler}.classifier_fid") for m in seeds]
            bars = len(seeds) > 1
            points.append({"label": label, "sampler": sampler, "x": np.mean(xs), "y": np.mean(ys),
                           "xerr": np.std(xs, ddof=1) if bars else None, "yerr": np.std(ys, ddof=1) if bars else None})
    return points


def grid_curves(spec: StudySpec, rows: list) -> dict[str, dict]:
    """For every entry's numeric grid key: the points (value, classifier FID of the entry's headline sampler, probe,
    EP T/N) at its first D and seed, the main run's value, and the FID's std over the main run's seeds (None: one)."""
    out = {}
    for entry in spec.entries:
        dim, seed = spec.points(entry)[0]
        mains = [r for r in rows if r["run"].entry == entry.label and r["run"].varied is None and r["run"].dim == dim]
        main = [r for r in mains if r["run"].seed == seed]
        if not main:
            continue
        sampler = headline_sampler(main[0]["metrics"]["generation"])
        fid = f"generation.{sampler}.classifier_fid"
        spread = [value(r["metrics"], fid) for r in mains]
        for key, values in entry.grid.items():
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                continue  # a curve needs numbers; a categorical knob (head_norm=running) is in the tables
            varied = [r for r in rows if r["run"].entry == entry.label and r["run"].varied
                      and r["run"].varied[0] == key]
            main_value = float(read_json(main[0]["dir"] / "config.json")[key])
            knobs = [(float(read_json(r["dir"] / "config.json")[key]), r) for r in varied] + [(main_value, main[0])]
            series = sorted((knob, value(r["metrics"], fid),
                             *(value(r["metrics"], COLUMNS[k].path) for k in ("probe", "ep_n")))
                            for knob, r in knobs)
            if len(series) > 1 and all(None not in p for p in series):
                out[f"{entry.label}: {key}"] = {
                    "sampler": sampler, "main": main_value,
                    "spread": float(np.std(spread, ddof=1)) if len(spread) > 1 else None, "points": series}
    return out
