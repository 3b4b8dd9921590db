"""Are the codes SIGReg made uniform the codes the decoder and the prior use? For each trained run: the codes of
5000 test images drawn at random (seed 0) and of one random view of each (the run's own affine ranges), with
the encoder's BatchNorm under its running moments (as encoding one image does) and under each batch's own
(batches of 256, as in a training step); the mean resultant length and EP T/N against the exact sphere marginal
(20 null draws) of each. A head_norm=running run has running moments only.

    PYTHONPATH=src python bench/view_codes.py RUN [RUN ...] [--out TABLE.md]

Draw the images at random: MNIST's test set is two writer populations in order, and the first 5000 images'
codes alone sit off the centre where all 10k do not (results/bench/gap-quick.md's erratum).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from isogen.augment import random_affine
from isogen.data import as_float, load_dataset
from isogen.files import write_text
from isogen.metrics.isotropy import ep_p_value
from isogen.runs import load_run

N, BATCH = 5000, 256


def rows(run: Path) -> list[list[str]]:
    config, _, model = load_run(run)
    data = load_dataset(config.dataset, config.data_dir)
    pick = torch.randperm(len(data.test_images), generator=torch.Generator().manual_seed(0))[:N]
    images = {"test images": as_float(data.test_images[pick])}
    images["their views"] = random_affine(images["test images"], config.affine_ranges(),
                                          torch.Generator().manual_seed(0))
    out = []
    # a head normalised by running moments (head_norm=running) never uses a batch's
    for moments in ("running",) + ((f"each batch's ({BATCH})",) if config.head_norm == "batch" else ()):
        model.train(moments != "running")  # train mode: BatchNorm normalises by the batch (moments unused later)
        for name, x in images.items():
            with torch.no_grad():
                z = torch.cat([model.encode(x[i:i + BATCH]) for i in range(0, len(x) - BATCH + 1, BATCH)])
            z = F.normalize(z.double(), dim=1)
            statistic, _, null = ep_p_value(z, torch.Generator().manual_seed(1), null_draws=20)
            out.append([run.name, name, moments, str(len(z)), f"{z.mean(0).norm():.3f}",
                        f"{statistic / len(z):.4f}", f"{null / len(z):.4f}"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    header = ["run", "codes of", "BatchNorm moments", "n", "mean resultant length", "EP T/N", "uniform: EP T/N"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in args.runs:
        lines += ["| " + " | ".join(row) + " |" for row in rows(run)]
        print(lines[-1])
    table = "\n".join(lines) + "\n"
    if args.out:
        write_text(args.out, table)
    print(table)


if __name__ == "__main__":
    main()
