"""isogen's command line: train, sample, interpolate, eval, study.

    isogen train --preset quick --run-dir runs/quick [key=value ...]
    isogen train --resume --run-dir runs/quick
    isogen sample runs/quick [--sampler matched] [-n 100]
    isogen interpolate runs/quick [--pairs 6] [--steps 10]
    isogen eval runs/quick [--fid-samples 500]
    isogen study study-small [--out results/study-small]
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

    p = commands.add_parser("eval", help="evaluate a run folder into RUN/metrics.json and RUN/figures/")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--fid-samples", type=int, default=-1,
                   help="Inception FID sample count (default 10000 on CUDA, 500 on CPU; 0 skips it)")
    p.add_argument("--samples", type=int, default=10000, help="generated samples for classifier metrics")
    p.add_argument("--pairs", type=int, default=1000, help="interpolation pairs")
    p.add_argument("--null-draws", type=int, default=200, help="Monte-Carlo draws for the EP p-value")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")

    p = commands.add_parser("study", help="train and evaluate a grid of methods, then write a report")
    p.add_argument("spec", help="study-small | study-full | a JSON file of StudySpec fields")
    p.add_argument("--out", type=Path, help="default: results/<study name>")
    p.add_argument("--device", default="auto")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from finished runs")

    args = parser.parse_args(argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "interpolate": cmd_interpolate,
                "eval": cmd_eval, "study": cmd_study}[args.command](args)
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
    import torch

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
    write_sample_grid(out, model, sampler, name, config.method, generator(torch.device("cpu"), args.seed, "samples"),
                      n=args.n)
    print(out)
    return 0


def cmd_interpolate(args) -> int:
    import torch

    from .data import load_dataset
    from .runs import generator, load_run, resolve_device
    from .sample import write_interpolation_strips

    _positive("--pairs", args.pairs)
    _positive("--steps", args.steps)
    config, _, model = load_run(args.run_dir, resolve_device(args.device))
    data = load_dataset(config.dataset, config.data_dir or None)
    out = args.out or args.run_dir / "interpolations.png"
    write_interpolation_strips(out, model, data, config.method, generator(torch.device("cpu"), args.seed, "pairs"),
                               pairs=args.pairs, steps=args.steps)
    print(out)
    return 0


def cmd_eval(args) -> int:
    from .metrics.evaluate import EvalOptions, evaluate_run

    for name in ("samples", "pairs", "null_draws"):
        _positive(f"--{name.replace('_', '-')}", getattr(args, name))
    if args.fid_samples < -1:
        raise IsogenError(f"--fid-samples must be -1 (default), 0 (skip) or a count, got {args.fid_samples}")
    if args.samples < 10 or args.pairs < 10:
        raise IsogenError("--samples and --pairs must be at least 10 (FID needs a covariance)")
    options = EvalOptions(fid_samples=args.fid_samples, samples=args.samples, pairs=args.pairs,
                          null_draws=args.null_draws, seed=args.seed, device=args.device)
    metrics = evaluate_run(args.run_dir, options)
    print(summary(metrics))
    return 0


def cmd_study(args) -> int:
    from .report import write_report
    from .study import load_spec, run_study

    spec = load_spec(args.spec)
    out = args.out or Path("results") / spec.name
    folder = write_report(spec, out) if args.report_only else run_study(spec, out, device=args.device)
    print(f"report: {folder / 'report.md'} and {folder / 'report.html'}")
    return 0


def summary(metrics: dict) -> str:
    iso, rep, rec = metrics["isotropy"], metrics["representation"], metrics["reconstruction"]
    lines = [f"isotropy: spread {iso['eigenvalue_spread']:.3g}, effective rank {iso['effective_rank']:.1f}, "
             f"EP {iso['ep_statistic']:.3g} (p={iso['ep_p_value']:.3g}), uniformity {iso['uniformity_t2']:.3f}",
             f"representation: linear probe {rep['linear_probe_accuracy']:.4f}, kNN {rep['knn5_accuracy']:.4f}",
             f"reconstruction: MSE {rec['mse_per_pixel']:.4f}, BCE {rec['bce_per_pixel']:.4f} per pixel"]
    for name, g in metrics["generation"].items():
        fid = f"Inception FID {g['inception_fid']:.2f} (n={g['inception_fid_n']}), " if "inception_fid" in g else ""
        lines.append(f"samples[{name}]: {fid}classifier FID {g['classifier_fid']:.2f} (n={g['n']}), "
                     f"precision {g['precision']:.3f}, recall {g['recall']:.3f}, confident {g['confident_share']:.3f}")
    fl = metrics["floor"]
    fid = f"Inception FID {fl['inception_fid']:.2f} (n={fl['inception_fid_n']}), " if "inception_fid" in fl else ""
    lines.append(f"floor (train images vs test): {fid}classifier FID {fl['classifier_fid']:.2f} (n={fl['n']})")
    for mode, m in metrics["interpolation"].items():
        lines.append(f"interpolation[{mode}]: midpoint classifier FID {m['midpoint_classifier_fid']:.2f}, "
                     f"evenness {m['step_evenness_pixels']:.2f} px / {m['step_evenness_features']:.2f} feat, "
                     f"confident frames {m['confident_frame_share']:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
