"""Aggregate training throughput of K runs interleaved on one device, as `isogen study` trains them
(each run its own engine, stream and CUDA graph; one host thread replays them in turn).

    PYTHONPATH=src python bench/aggregate.py [--device cuda] [--runs 1,2,4,8,16] [key=value ...]

Prints, per K: the wall time of one round (one step of every run) and the images/s summed over runs.
"""
from __future__ import annotations

import argparse

from isogen.config import make_config, parse_assignments
from isogen.data import load_dataset
from isogen.plan import engines, seconds_per_round
from isogen.runs import environment, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default="1,2,4,8,16", help="comma-separated K values")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    device = resolve_device(args.device)
    overrides = {"method": "sigreg-sphere", "embed_dim": "64", "batch_size": "512", **parse_assignments(args.overrides),
                 "device": str(device)}
    config = make_config("full", overrides)
    images = load_dataset("mnist").train_images.to(device)
    env = environment(device)
    print(f"# {env['device_name']}, torch {env['torch']}; " + " ".join(f"{k}={v}" for k, v in overrides.items()))
    for k in (int(v) for v in args.runs.split(",")):
        seconds = seconds_per_round(engines(config, images, k))
        print(f"K={k:3d}: {seconds * 1000:8.2f} ms per round, {k * config.batch_size / seconds:12,.0f} images/s in all")


if __name__ == "__main__":
    main()
