"""isogen's command line: train, sample, interpolate (eval and study join later).

    isogen train --preset quick --run-dir runs/quick [key=value ...]
    isogen train --resume --run-dir runs/quick
    isogen sample runs/quick [--sampler matched] [-n 100]
    isogen interpolate runs/quick [--pairs 6] [--steps 10]
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from .errors import IsogenError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="isogen", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a model into a run folder")
    p.add_argument("--preset", default="", help="quick | full | smoke (small diffs over the defaults)")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the config)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs=3")

    p = commands.add_parser("sample", help="decode sampler draws into a PNG grid")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--sampler", default="", help="one of the method's samplers (default: its first)")
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="default: RUN/samples-<sampler>.png")
    p.add_argument("--device", default="auto")

    p = commands.add_parser("interpolate", help="decode paths between pairs of test digits")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--pairs", type=int, default=6)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="default: RUN/interpolations.png")
    p.add_argument("--device", default="auto")

    args = parser.parse_args(argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "interpolate": cmd_interpolate}[args.command](args)
    except IsogenError as e:
        if args.debug:
            traceback.print_exc()
        print(f"isogen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("isogen: interrupted; finished epochs are saved, resume with --resume", file=sys.stderr)
        return 130


def cmd_train(args) -> int:
    from .config import Config, make_config, parse_assignments
    from .files import read_json
    from .train import train

    overrides = parse_assignments(args.overrides)
    if args.device:
        overrides["device"] = args.device
    if args.resume and not args.preset and (args.run_dir / "config.json").exists():
        saved = Config.from_dict(read_json(args.run_dir / "config.json"), source=str(args.run_dir / "config.json"))
        config = saved.with_overrides(overrides).validate()
    else:
        config = make_config(args.preset, overrides)
    train(config, args.run_dir, resume=args.resume, progress=not args.no_progress)
    return 0


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise IsogenError(f"{name} must be a positive number, got {value}")


def cmd_sample(args) -> int:
    from .data import load_dataset
    from .runs import generator, load_run, resolve_device
    from .sample import fit_samplers, write_sample_grid

    _positive("-n", args.n)
    device = resolve_device(args.device)
    config, method, model = load_run(args.run_dir, device)
    name = args.sampler or method.sampler_names[0]
    if name not in method.sampler_names:
        raise IsogenError(f"{config.method} has no sampler {name!r}; its samplers: {', '.join(method.sampler_names)}")
    if name == "prior":
        sampler = method.samplers()[name]
    else:  # matched densities are fitted to the codes of the training images
        data = load_dataset(config.dataset, config.data_dir or None)
        sampler = fit_samplers(method, model, data.train_images[:config.train_subset or None])[name]
    out = args.out or args.run_dir / f"samples-{name}.png"
    write_sample_grid(out, model, sampler, name, config.method, generator(device.__class__("cpu"), args.seed, "samples"),
                      n=args.n)
    print(out)
    return 0


def cmd_interpolate(args) -> int:
    from .data import load_dataset
    from .runs import generator, load_run, resolve_device
    from .sample import write_interpolation_strips

    _positive("--pairs", args.pairs)
    _positive("--steps", args.steps)
    config, _, model = load_run(args.run_dir, resolve_device(args.device))
    data = load_dataset(config.dataset, config.data_dir or None)
    out = args.out or args.run_dir / "interpolations.png"
    import torch

    write_interpolation_strips(out, model, data, config.method, generator(torch.device("cpu"), args.seed, "pairs"),
                               pairs=args.pairs, steps=args.steps)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
