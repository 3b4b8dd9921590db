"""Inception FID at the literature's n of one sampler's decoded samples, for runs whose study did not ask for it
(FID is biased at small n: compare only at equal n; Ghosh et al. 2020 and Chadebec & Allassonnière 2022 use 10k).

    PYTHONPATH=src python bench/inception_fid.py RUN [RUN ...] [--sampler prior] [-n 10000] [--out TABLE.md]

Each run's sampler draws n codes (the evaluation's seed and purpose, so the same codes isogen eval decodes),
decoded and judged as isogen eval judges them: Inception FID against the first n test images (their features
cached per machine), beside the classifier's confident share and FID. Prints, and appends to --out, one
Markdown row per run; records the FID in the run's metrics.json (generation.<sampler>.inception_fid and _n, with
protocol.inception_fid_after saying how), where its study's report puts it beside the literature.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from isogen.data import load_dataset
from isogen.files import read_json, write_json, write_text
from isogen.metrics.classifier import load_classifier
from isogen.metrics.generation import SampleJudge
from isogen.metrics.inception import InceptionFeatures
from isogen.runs import cpu_name, generator, load_run
from isogen.sample import decode_codes, run_samplers

HEADER = ["| run | sampler | n | Inception FID | classifier FID | confident | CPU | seconds |",
          "|---|---|---|---|---|---|---|---|"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--sampler", default="prior")
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows, judges = list(HEADER), {}  # one judge (classifier, Inception, reference features) per data set
    for run_dir in args.runs:
        started = time.perf_counter()
        config, method, model = load_run(run_dir)
        data = load_dataset(config.dataset, config.data_dir)
        if config.dataset not in judges:
            inception = InceptionFeatures(torch.device("cpu"))
            judges[config.dataset] = SampleJudge(data, load_classifier(data)[0], inception, 0, args.n, 1000)
        judge = judges[config.dataset]
        sampler = run_samplers(run_dir, method, model, data)[args.sampler]
        z = sampler.sample(args.n, generator(torch.device("cpu"), 0, f"sample-{args.sampler}"))
        scores = judge(decode_codes(model, z), inception=True)
        seconds = round(time.perf_counter() - started)
        record(run_dir / "metrics.json", args.sampler, scores, seconds)
        rows.append(f"| {run_dir.name} | {args.sampler} | {scores['inception_fid_n']} | "
                    f"{scores['inception_fid']:.2f} | {scores['classifier_fid']:.1f} | "
                    f"{scores['confident_share']:.3f} | {cpu_name()} | {seconds} |")
        print(rows[-1], flush=True)
    if args.out:
        old = args.out.read_text().splitlines() if args.out.exists() else list(HEADER)
        write_text(args.out, "\n".join(old + rows[len(HEADER):]) + "\n")


def record(path: Path, sampler: str, scores: dict, seconds: int) -> None:
    """The FID beside the sampler's other generation metrics, and how it was measured: after the run's evaluation."""
    if not path.exists():  # a run not evaluated yet: its evaluation writes metrics.json whole
        return
    metrics = read_json(path)
    metrics["generation"][sampler].update({key: scores[key] for key in ("inception_fid", "inception_fid_n")})
    metrics["protocol"].setdefault("inception_fid_after", {})[sampler] = {
        "by": "bench/inception_fid.py", "n": scores["inception_fid_n"], "cpu": cpu_name(), "seconds": seconds}
    write_json(path, metrics)


if __name__ == "__main__":
    main()
