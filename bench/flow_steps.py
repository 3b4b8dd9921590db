"""Quality per CPU-second of a trained flow decoder's sampling: ODE solver and step count against the seconds an
image takes, for decoded prior points and decoded real codes (the oracle), judged in classifier features.

    PYTHONPATH=src python bench/flow_steps.py RUN [--solvers euler,midpoint] [--steps 1,2,4,8,20] [-n 1000]
                                              [--out TABLE.md]

A row per (solver, steps): network evaluations per image, seconds per image (this machine, its threads), the
prior's confident share and classifier FID, the oracle's confident share. The same seeded noise for every row.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from isogen.codes import encode_images
from isogen.data import load_dataset
from isogen.files import write_text
from isogen.metrics.classifier import load_classifier
from isogen.metrics.generation import SampleJudge
from isogen.runs import environment, generator, load_run

EVALUATIONS = {"euler": 1, "midpoint": 2, "rk4": 4}  # network evaluations per ODE step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--solvers", default="euler,midpoint")
    parser.add_argument("--steps", default="1,2,4,8,20")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    config, method, model = load_run(args.run)
    if not model.decoder.stochastic:
        raise SystemExit(f"{args.run} has a one-step decoder; this measures an ODE decoder's sampling")
    data = load_dataset(config.dataset, config.data_dir)
    judge = SampleJudge(data, load_classifier(data)[0], None, 0, 0, min(5000, args.n))
    prior = model.geometry.prior(args.n, config.embed_dim, generator(torch.device("cpu"), 0, "prior"), torch.float32)
    real = encode_images(model, data.train_images[:args.n])
    rows = [f"*{args.run}, n = {args.n}, {environment(torch.device('cpu'))['device_name']}, "
            f"{torch.get_num_threads()} threads*", "",
            "| solver | steps | evaluations / image | s / image | prior confident | prior classifier FID | "
            "oracle confident |", "|---|---|---|---|---|---|---|"]
    for solver in args.solvers.split(","):
        for steps in (int(s) for s in args.steps.split(",")):
            model.decoder.solver, model.decoder.steps = solver, steps
            started = time.perf_counter()
            images = model.decoder.generate(prior, generator(torch.device("cpu"), 0, "decode"))
            seconds = (time.perf_counter() - started) / args.n
            scores = judge(images)
            oracle = judge(model.decoder.generate(real, generator(torch.device("cpu"), 0, "decode")))
            rows.append(f"| {solver} | {steps} | {EVALUATIONS[solver] * steps} | {seconds:.4f} | "
                        f"{scores['confident_share']:.3f} | {scores['classifier_fid']:.1f} | "
                        f"{oracle['confident_share']:.3f} |")
            print(rows[-1], flush=True)
    if args.out:
        write_text(args.out, "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
