"""The Sphere Encoder's encode-decode refinement, z <- encode(decode(z)), measured on trained sphere runs: the
prior's samples after 0, 1, 2, 3 ... loops, judged as isogen eval judges them (classifier features, n images).

    PYTHONPATH=src python bench/refine.py RUN [RUN ...] [--steps 0,1,3] [-n 10000] [--out TABLE.md]

Each run needs a one-step (deterministic) decoder and codes on the sphere. Prints, and writes with --out, a
Markdown table: run, loops, confident share, classifier FID, classifier KID, and the oracle's confident share
beside them (real training codes, decoded).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from isogen.codes import encode_images
from isogen.data import load_dataset
from isogen.files import write_text
from isogen.metrics.classifier import load_classifier
from isogen.metrics.generation import SampleJudge
from isogen.runs import generator, load_run
from isogen.sample import Refined, decode_codes, run_samplers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--steps", default="0,1,3")
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = ["| run | loops | confident | classifier FID | classifier KID | oracle confident |",
            "|---|---|---|---|---|---|"]
    judges: dict = {}
    for run_dir in args.runs:
        config, method, model = load_run(run_dir)
        data = load_dataset(config.dataset, config.data_dir)
        if config.dataset not in judges:
            judges[config.dataset] = SampleJudge(data, load_classifier(data)[0], None, 0, 0, 5000)
        judge = judges[config.dataset]
        prior = run_samplers(run_dir, method, model, data)["prior"]
        prior = prior.sampler if isinstance(prior, Refined) else prior  # the loops are counted here
        oracle = judge(decode_codes(model, encode_images(model, data.train_images[:args.n])))
        for steps in (int(s) for s in args.steps.split(",")):
            z = Refined(prior, model, steps).sample(args.n, generator(torch.device("cpu"), 0, "sample-prior"))
            scores = judge(decode_codes(model, z))
            rows.append(f"| {run_dir.name} | {steps} | {scores['confident_share']:.3f} | "
                        f"{scores['classifier_fid']:.1f} | {scores['classifier_kid']:.3f} | "
                        f"{oracle['confident_share']:.3f} |")
            print(rows[-1], flush=True)
    if args.out:
        write_text(args.out, "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
