"""Where on the sphere do decoded uniform points fail? By the class purity of their neighbourhood among the
training codes: the share of a point's k nearest training codes that carry its majority label.

    PYTHONPATH=src python bench/boundary.py RUN [RUN ...] [-n 10000] [-k 10] [--out results/bench/boundary]

For each run (a deterministic decoder on the sphere), n points of its prior and n test codes (the oracle's
inputs) are decoded and read by the project's classifier (confident: top probability > 0.9), and each point's
k nearest training codes (chord distance) give its neighbourhood's purity. Per purity bin: the share of the
prior's and the oracle's points there, their confident shares, and the mean distance to the nearest training
code. The decomposition: were each prior point decoded as well as a test code of the same purity, the prior
would read sum_b share_prior(b) x confident_oracle(b); how much of the gap that predicts is how much of it the
prior's mass between the classes explains, the rest being a decoder worse on prior points than on test codes
of the same purity. Writes OUT/boundary.md, boundary.png and boundary-samples.png (decoded prior points by bin).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from isogen.codes import cached_codes  # noqa: E402
from isogen.data import load_dataset  # noqa: E402
from isogen.figures import image_grid, save_figure  # noqa: E402
from isogen.files import write_text  # noqa: E402
from isogen.metrics.classifier import load_classifier  # noqa: E402
from isogen.metrics.generation import CONFIDENT  # noqa: E402
from isogen.runs import encoder_folder, generator, load_run  # noqa: E402
from isogen.sample import decode_codes, run_samplers  # noqa: E402

BINS = [(0.0, 0.55, "<= 0.5"), (0.55, 0.85, "0.6-0.8"), (0.85, 0.95, "0.9"), (0.95, 1.01, "1.0")]  # k = 10's


@torch.no_grad()
def neighbourhood(z: torch.Tensor, train: torch.Tensor, labels: torch.Tensor, k: int,
                  chunk: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's purity among its k nearest training codes, and its distance to the nearest one."""
    purity, nearest = [], []
    for i in range(0, len(z), chunk):
        distances, index = torch.cdist(z[i:i + chunk].double(), train.double()).topk(k, dim=1, largest=False)
        counts = torch.nn.functional.one_hot(labels[index], 10).sum(1)
        purity.append(counts.max(1).values.double() / k)
        nearest.append(distances[:, 0])
    return torch.cat(purity), torch.cat(nearest)


def analyse(run_dir: Path, n: int, k: int) -> dict:
    config, method, model = load_run(run_dir)
    data = load_dataset(config.dataset, config.data_dir)
    classifier = load_classifier(data)[0]
    codes = cached_codes(encoder_folder(run_dir, config), model, data.train_images, data.test_images, write=False)
    prior = run_samplers(run_dir, method, model, data)["prior"].sample(n, generator(torch.device("cpu"), 0,
                                                                                   "sample-prior"))
    rows = {}
    for name, z in (("prior", prior), ("oracle", codes["test"][:n])):
        images = decode_codes(model, z)
        confident = torch.from_numpy(classifier.features_and_probs(images)[1].max(1) > CONFIDENT)
        purity, nearest = neighbourhood(z, codes["train"], data.train_labels, k)
        rows[name] = {"images": images, "confident": confident, "purity": purity, "nearest": nearest}
    return rows


def binned(rows: dict) -> list[dict]:
    table = []
    for low, high, label in BINS:
        row = {"bin": label}
        for name, r in rows.items():
            inside = (r["purity"] >= low) & (r["purity"] < high)
            row[f"share_{name}"] = float(inside.double().mean())
            row[f"confident_{name}"] = float(r["confident"][inside].double().mean()) if inside.any() else float("nan")
            row[f"nearest_{name}"] = float(r["nearest"][inside].mean()) if inside.any() else float("nan")
        table.append(row)
    return table


def purity_matched(rows: dict, table: list[dict]) -> tuple[dict[str, float], float]:
    """The confident shares of the prior and the oracle, and what the prior would read were each of its points
    decoded as well as the test codes of its purity bin."""
    actual = {name: float(r["confident"].double().mean()) for name, r in rows.items()}
    return actual, sum(row["share_prior"] * row["confident_oracle"] for row in table if row["share_prior"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("results/bench/boundary"))
    args = parser.parse_args()
    lines = [f"# Decoded prior points by their neighbourhood's class purity (k = {args.k}, n = {args.n})", ""]
    cols = min(4, len(args.runs))
    fig, axes = plt.subplots(-(-len(args.runs) // cols), cols, figsize=(4.5 * cols, 3.6 * -(-len(args.runs) // cols)),
                             squeeze=False)
    for ax in axes.flat[len(args.runs):]:
        ax.axis("off")
    grids = []
    for letter, ax, run_dir in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", axes.flat, args.runs, strict=False):
        rows = analyse(run_dir, args.n, args.k)
        table = binned(rows)
        actual, matched = purity_matched(rows, table)
        explained = (actual["oracle"] - matched) / max(actual["oracle"] - actual["prior"], 1e-9)
        lines += [f"## {letter}: {run_dir.name}", "",
                  f"Confident: prior {actual['prior']:.3f}, oracle {actual['oracle']:.3f}; the prior decoded as "
                  f"well as test codes of the same purity would read {matched:.3f}: the purity explains "
                  f"{explained:.0%} of the gap.", "",
                  "| purity | share: prior | oracle | confident: prior | oracle | nearest: prior | oracle |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['bin']} | {r['share_prior']:.3f} | {r['share_oracle']:.3f} | {r['confident_prior']:.3f} | "
                  f"{r['confident_oracle']:.3f} | {r['nearest_prior']:.3f} | {r['nearest_oracle']:.3f} |"
                  for r in table]
        lines.append("")
        x = torch.arange(len(BINS)).numpy()
        ax.bar(x - 0.2, [r["share_prior"] for r in table], 0.4, color="tab:orange", alpha=0.5, label="share: prior")
        ax.bar(x + 0.2, [r["share_oracle"] for r in table], 0.4, color="tab:blue", alpha=0.5, label="share: test")
        ax.plot(x, [r["confident_prior"] for r in table], "o-", color="tab:orange", label="confident: prior")
        ax.plot(x, [r["confident_oracle"] for r in table], "s-", color="tab:blue", label="confident: test codes")
        ax.set(xticks=x, xticklabels=[b[2] for b in BINS], xlabel=f"purity of the {args.k} nearest training codes",
               ylim=(0, 1), title=f"{letter}: {run_dir.name}")
        prior = rows["prior"]
        for low, high, _ in BINS:  # the first 12 decoded prior points of each bin, a row each
            inside = ((prior["purity"] >= low) & (prior["purity"] < high)).nonzero().flatten()[:12]
            grids.append(torch.cat([prior["images"][inside], torch.zeros(12 - len(inside), 1, 28, 28)]))
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, args.out / "boundary.png")
    image_grid(args.out / "boundary-samples.png", torch.cat(grids), 12, "decoded prior points by purity (rows: "
               "the run's letter in boundary.md, the bin)", [f"{chr(65 + i)}  {b[2]}" for i in range(len(args.runs))
                                                            for b in BINS])
    write_text(args.out / "boundary.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
