"""study-gap's answer: which change lets a uniform point of the sphere decode like a real code?

    PYTHONPATH=src python bench/gap_report.py [results/study-gap]   -> OUT/report/gap.md, gap.png, gap-samples.png

Reads the finished runs of `isogen study study-gap` (committed small files suffice; one seed each) and sets each
beside the protocol's default sigreg-sphere run: what it changes (its config against the default's), what its
codes know (linear probe) and how uniform they are (EP T/N, mean resultant length, intrinsic dimension, the
distance from a prior point and from a test code to the nearest training code), and how its decoded prior points
read against its decoded test codes (the oracle) and against the density models fitted to its codes (GMM, the
learned code flow). Issue 23's target is checked per run: prior samples read confidently >= 85% and within 5
points of the oracle, classifier FID of prior samples <= 1.5x the oracle's. Rows are sorted by the prior's
confident share. The picture sets the same rows side by side; gap-samples.png shows the decoded prior of the
default and of the best runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from isogen.catalog import load_spec  # noqa: E402
from isogen.figures import picture_mosaic, save_figure  # noqa: E402
from isogen.files import read_json, write_text  # noqa: E402
from isogen.metrics.schema import COLUMNS, column, value  # noqa: E402

DEFAULT = "sigreg-sphere-d64-s0"  # the protocol's sigreg-sphere (lambda = 0.1, D = 64): what each run changes
SHOWN = {"probe": "probe", "ep_n": "EP T/N", "mrl": "mean resultant", "idim": "dim (TwoNN)",
         "nearest_oracle": "nearest: test code", "nearest_prior": "prior point", "nearest_null": "codes ~ prior",
         "confident_oracle": "confident: oracle", "confident": "prior", "confident_gmm": "GMM",
         "confident_learned": "learned", "cfid_oracle": "cFID: oracle", "cfid_prior": "prior", "cfid_gmm": "GMM"}
IGNORED = {"samplers", "seed"}  # settings that do not change the model
TARGET = {"confident": 0.85, "confident_gap": 0.05, "cfid_ratio": 1.5}  # issue 23


COLUMNS_HERE = {**COLUMNS, "confident_gmm": column("generation", "confident_share", "gmm")}  # and the GMM's share


def read(metrics: dict, key: str) -> float | None:
    return value(metrics, COLUMNS_HERE[key].path)


def changes(overrides: dict, default: dict) -> str:
    keys = sorted((overrides.keys() | default.keys()) - IGNORED)
    changed = [f"{k}={overrides.get(k, '(default)')}" for k in keys if overrides.get(k) != default.get(k)]
    return ", ".join(changed) or "the default"


def finished(out: Path) -> list[tuple[str, str, dict]]:
    """(run name, what it changes, metrics) for every finished run the spec plans."""
    plans = {run.name: run for run in load_spec("study-gap").runs()}
    if DEFAULT not in plans:
        raise SystemExit(f"study-gap plans no {DEFAULT}: update DEFAULT in {__file__}")
    rows = []
    for name, run in plans.items():
        path = out / "runs" / name / "metrics.json"
        if path.exists():
            rows.append((name, changes(run.overrides, plans[DEFAULT].overrides), read_json(path)))
    return rows


def met(metrics: dict) -> bool:
    prior, oracle = read(metrics, "confident"), read(metrics, "confident_oracle")
    fid_prior, fid_oracle = read(metrics, "cfid_prior"), read(metrics, "cfid_oracle")
    return (None not in (prior, oracle, fid_prior, fid_oracle) and prior >= TARGET["confident"]
            and oracle - prior <= TARGET["confident_gap"] and fid_prior <= TARGET["cfid_ratio"] * fid_oracle)


def cell(number: float | None, key: str) -> str:
    return "—" if number is None else f"{number:.{COLUMNS_HERE[key].digits}f}"


def table(rows: list[tuple[str, str, dict]]) -> str:
    lines = ["| run | changes | " + " | ".join(SHOWN.values()) + " | cFID prior / oracle | target |",
             "|---|---|" + "---|" * (len(SHOWN) + 2)]
    for name, change, metrics in rows:
        ratio = (read(metrics, "cfid_prior") or float("nan")) / (read(metrics, "cfid_oracle") or float("nan"))
        lines.append(f"| {name} | {change} | " + " | ".join(cell(read(metrics, k), k) for k in SHOWN)
                     + f" | {ratio:.1f} | {'met' if met(metrics) else 'no'} |")
    return "\n".join(lines)


def picture(rows: list[tuple[str, str, dict]], path: Path) -> None:
    names = [name.removesuffix("-s0") for name, _, _ in rows]
    y = range(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(14, 0.32 * len(rows) + 1.6), dpi=100, sharey=True)
    panels = [("confident share (classifier > 0.9)", ("confident_oracle", "confident", "confident_gmm",
                                                      "confident_learned"), False),
              ("classifier FID (n = 10k), log scale", ("cfid_oracle", "cfid_prior", "cfid_gmm"), True),
              ("linear probe accuracy", ("probe",), False)]
    styles = {"confident_oracle": ("o", "none", "oracle (test codes)"), "confident": ("o", "C0", "prior"),
              "confident_gmm": ("^", "C2", "GMM"), "confident_learned": ("*", "C3", "learned flow"),
              "cfid_oracle": ("o", "none", "oracle (test codes)"), "cfid_prior": ("o", "C0", "prior"),
              "cfid_gmm": ("^", "C2", "GMM"), "probe": ("s", "C4", "linear probe")}
    for ax, (title, keys, log) in zip(axes, panels, strict=True):
        for key in keys:
            marker, face, label = styles[key]
            xs = [read(m, key) for _, _, m in rows]
            ax.scatter([x for x in xs if x is not None], [i for i, x in zip(y, xs, strict=True) if x is not None],
                       marker=marker, facecolors=face, edgecolors="k" if face == "none" else face, label=label, s=28)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[0].axvline(TARGET["confident"], color="gray", ls="--", lw=1)
    axes[0].set_yticks(list(y), names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("study-gap: decoded uniform points (prior) against decoded test codes (oracle)", fontsize=11)
    handles = {h.get_label(): h for ax in axes for h in ax.collections}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/study-gap")
    rows = sorted(finished(out), key=lambda r: -(read(r[2], "confident") or 0))
    if not rows:
        raise SystemExit(f"no finished study-gap run under {out}/runs: run `isogen study study-gap` first")
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    picture(rows, folder / "gap.png")
    shown = [r for r in rows if r[0] == DEFAULT] + [r for r in rows if r[0] != DEFAULT][:5]
    picture_mosaic(folder / "gap-samples.png", [(out / "runs" / name / "figures" / "samples-prior.png", name)
                                                for name, _, _ in shown], cols=3)
    text = [f"# study-gap: {len(rows)} finished runs (seed 0 each)\n", __doc__.split("\n\n", 2)[2].strip() + "\n",
            table(rows) + "\n", "![the table's runs](gap.png)\n", "![decoded prior points](gap-samples.png)\n"]
    write_text(folder / "gap.md", "\n".join(text))
    print(f"{folder / 'gap.md'}: {len(rows)} runs; target met by {sum(met(m) for _, _, m in rows)}")


if __name__ == "__main__":
    main()
