"""Where the codes live: each run's held-out codes against its training codes (mean distance to the nearest
training code, intrinsic dimension by TwoNN), beside the same for codes that followed the prior exactly.

    PYTHONPATH=src python bench/code_dimension.py RUN [RUN ...] [-n 2000] [--out TABLE.md]

The numbers evaluation writes as oracle.nearest_train_distance / intrinsic_dimension (isogen.metrics.nearest),
for runs evaluated before those existed. The codes come from each run's cache, computed from its checkpoint
when absent.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from isogen.codes import cached_codes
from isogen.data import load_dataset
from isogen.files import write_text
from isogen.metrics.nearest import code_neighbourhood, neighbourhood_under_prior
from isogen.runs import encoder_folder, load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-n", type=int, default=2000, help="held-out codes measured (evaluation's nearest_samples)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = ["| run | D | test code to nearest training code | intrinsic dimension | codes ~ prior: nearest | "
            "intrinsic dimension |", "|---|---|---|---|---|---|"]
    for run_dir in args.runs:
        config, _, model = load_run(run_dir)
        data = load_dataset(config.dataset, config.data_dir)
        codes = cached_codes(encoder_folder(run_dir, config), model, data.training_split(config.train_subset)[0],
                             data.test_images, write=False)
        real = code_neighbourhood(codes["test"][:args.n].cpu(), codes["train"].cpu())
        prior = neighbourhood_under_prior(model.geometry, len(codes["train"]), config.embed_dim, args.n)
        rows.append(f"| {run_dir.name} | {config.embed_dim} | {real['nearest_train_distance']:.3f} | "
                    f"{real['intrinsic_dimension']:.1f} | {prior['nearest_distance_under_prior']:.3f} | "
                    f"{prior['intrinsic_dimension_under_prior']:.1f} |")
        print(rows[-1], flush=True)
    if args.out:
        write_text(args.out, "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
