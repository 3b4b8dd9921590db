"""isogen's command line: train, sample, interpolate, eval, study, explore.

    isogen train --preset quick --run-dir runs/quick [key=value ...]
    isogen train --resume --run-dir runs/quick
    isogen train --from runs/quick --run-dir runs/quick-flow decoder=flow decoder_epochs=4
    torchrun --standalone --nproc_per_node 2 -m isogen train --preset full --run-dir runs/full
    isogen sample runs/quick [--sampler matched] [-n 100]
    isogen interpolate runs/quick [--pairs 6] [--steps 10]
    isogen eval runs/quick [--kid-samples 1000] [--fid-samples 10000]
    isogen study study-cpu [--out results/study-cpu] [--plan | --report-only | --hours 2.5]
    isogen study study-cpu --launcher submitit --partition gpu   (a Slurm job array)
    isogen explore runs/quick [runs/other ...] --out explorer [--serve 8000]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from pathlib import Path

import torch

from .catalog import STUDIES, load_spec
from .cluster import LAUNCHERS, SlurmOptions
from .codes import encode_images
from .config import DECODER_KEYS, PRESETS, Config, make_config, parse_assignments
from .data import load_dataset
from .distributed import launched_by_torchrun, world_from_environment
from .errors import IsogenError
from .explore import MAPS, serve, write_explorer
from .files import read_json
from .launcher import Job, choose_concurrency, describe_failure, study_concurrency, study_launcher, train_all
from .methods import check_keys
from .metrics.evaluate import EvalOptions, evaluate_run
from .metrics.schema import summary
from .plan import plan
from .report import write_report
from .runner import pending_jobs, run_study
from .runs import generator, load_run, resolve_device
from .sample import decode_codes, run_samplers, write_images_npz, write_interpolation_strips, write_sample_grid
from .train import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="isogen", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a model into a run folder")
    p.add_argument("--preset", default="", help=f"{' | '.join(PRESETS)} (small diffs over the defaults)")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint")
    p.add_argument("--from", dest="source", type=Path, metavar="RUN",
                   help="decode RUN's trained encoder: a new run trains only its decoder (and samplers) on RUN's "
                        "cached codes; overrides may change only the decoder's keys")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the config)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--sweep", action="append", default=[], metavar="key=v1,v2",
                   help="train the grid of these values (repeatable) into RUN_DIR/<key><value>-..., concurrently")
    p.add_argument("--concurrent", type=int, default=0, help="runs of a sweep at once (0: from free memory)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs=3")

    on_run = argparse.ArgumentParser(add_help=False)  # what every command on a trained run folder takes
    on_run.add_argument("run_dir", type=Path)
    on_run.add_argument("--seed", type=int, default=0)
    on_run.add_argument("--device", default="auto")

    p = commands.add_parser("sample", parents=[on_run],
                            help="decode sampler draws into a PNG grid, or into an .npz of uint8 images")
    p.add_argument("--sampler", default="", help="one of the run's samplers (default: its first), or 'oracle': the "
                                                 "first n test images' codes, decoded")
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--out", type=Path, help="default: RUN/samples-<sampler>.png; a name ending in .npz gets the "
                                            "images as a uint8 array 'images' (n, 28, 28), for clean-fid, "
                                            "torch-fidelity or a reviewer's own classifier")

    p = commands.add_parser("interpolate", parents=[on_run], help="decode paths between pairs of test digits")
    p.add_argument("--pairs", type=int, default=6)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", type=Path, help="default: RUN/interpolations.png")

    p = commands.add_parser("eval", parents=[on_run],
                            help="evaluate a run folder into RUN/metrics.json and RUN/figures/")
    for f in dataclasses.fields(EvalOptions):  # every evaluation option, its default and help stated once
        if f.name != "seed":  # --seed comes with every command on a run
            flag = "--" + f.name.replace("_", "-")
            if isinstance(f.default, bool):
                p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
            else:
                p.add_argument(flag, type=int, default=f.default, help=f"{f.metadata['help']} (default {f.default})")

    p = commands.add_parser("study", help="train and evaluate a grid of methods, then write a report")
    p.add_argument("spec", help=f"{' | '.join(STUDIES)} | a JSON file of StudySpec fields")
    p.add_argument("--out", type=Path, help="default: results/<study name>")
    p.add_argument("--device", default="auto")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from finished runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.add_argument("--plan", action="store_true", help="print the runs, the concurrency and a timed estimate; "
                                                        "train nothing")
    p.add_argument("--hours", type=float, default=0.0, help="start only the runs that should end within this many "
                   "hours, by the study's own timings (a session that must stop leaves no run part-trained)")
    p.add_argument("--concurrent", type=int, default=0,
                   help="runs trained at once (0: in worker processes 2, in this process as the memory holds)")
    p.add_argument("--eval-workers", type=int, default=-1,
                   help="background evaluation processes (-1: one on CUDA, none on CPU)")
    p.add_argument("--launcher", choices=LAUNCHERS, default="auto",
                   help="auto: processes on a CPU, local on a GPU; processes: each run in a worker process with "
                        "its share of the CPU's cores; local: runs interleaved in this process; submitit: a Slurm "
                        "job array, one task per run; submitit-local: the same tasks as local processes")
    slurm = SlurmOptions()
    p.add_argument("--partition", default=slurm.partition, help="Slurm partition (default: the cluster's)")
    p.add_argument("--time-min", type=int, default=slurm.time_min, help="minutes per task (requeued beyond)")
    p.add_argument("--gpus-per-task", type=int, default=slurm.gpus_per_task)
    p.add_argument("--cpus-per-task", type=int, default=slurm.cpus_per_task)
    p.add_argument("--mem-gb", type=int, default=slurm.mem_gb)
    p.add_argument("--array-parallelism", type=int, default=slurm.array_parallelism,
                   help="tasks of the array running at once")

    p = commands.add_parser("explore", help="write (and serve) an interactive page over runs' latent spaces")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN", help="run folders of one data set")
    p.add_argument("--out", required=True, type=Path, help="the explorer folder (open OUT/index.html)")
    p.add_argument("--points", type=int, default=2000, help="test digits on the map")
    p.add_argument("--map", choices=MAPS, default="pca", help="the map of the codes (t-SNE is computed here)")
    p.add_argument("--seed", type=int, default=0, help="which test digits; the page's draws")
    p.add_argument("--serve", type=int, metavar="PORT", help="then serve OUT on http://localhost:PORT")

    args = parser.parse_args(argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "interpolate": cmd_interpolate,
                "eval": cmd_eval, "study": cmd_study, "explore": cmd_explore}[args.command](args)
    except IsogenError as e:
        if args.debug:
            traceback.print_exc()
        print(f"isogen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("isogen: interrupted; finished epochs are saved, resume with --resume", file=sys.stderr)
        return 130


def cmd_train(args) -> int:
    overrides = parse_assignments(args.overrides)
    if args.device:
        overrides["device"] = args.device
    if args.source:
        config = config_from_source(args.source, args.run_dir, overrides, args.preset)
    elif args.resume and not args.preset and (args.run_dir / "config.json").exists():
        saved = Config.from_dict(read_json(args.run_dir / "config.json"), source=str(args.run_dir / "config.json"))
        config = saved.with_overrides(overrides).validate()
    else:
        config = make_config(args.preset, overrides)
    check_keys(config, [k.replace("-", "_") for k in [*overrides, *parse_assignments(args.sweep)]])
    world = world_from_environment(resolve_device(config.device))
    if world.size > 1:
        if args.sweep:
            raise IsogenError("torchrun trains one run over its processes; run --sweep without torchrun")
        if world.rank:  # one voice: rank 0 prints, the others train quietly (errors still reach stderr)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
    if not args.sweep:
        try:
            train(config, args.run_dir, resume=args.resume, progress=not args.no_progress and not world.rank,
                  world=world)
        finally:
            world.leave()
        return 0
    jobs = [Job(name, config.with_overrides(point).validate(), args.run_dir / name)
            for name, point in sweep(args.sweep)]
    failures: dict[str, str] = {}
    train_all(jobs, args.concurrent or choose_concurrency(jobs, resolve_device(config.device)), {},
              lambda job: print(f"trained {job.run_dir}"),
              lambda name, error: failures.__setitem__(name, describe_failure(error)), not args.no_progress)
    return report_failures(failures, args.run_dir)


def config_from_source(source: Path, run_dir: Path, overrides: dict[str, str], preset: str) -> Config:
    """The config of a run on `source`'s encoder: the source's own, with decoder-side overrides."""
    if preset:
        raise IsogenError("--from takes its settings from the source run; drop --preset")
    encoder_keys = sorted(k for k in overrides if k.replace("-", "_") not in DECODER_KEYS)
    if encoder_keys:
        raise IsogenError(f"--from {source} keeps the source's encoder, so {encoder_keys} cannot change; only the "
                          f"decoder's keys may: {', '.join(sorted(DECODER_KEYS - {'encoder_from'}))}")
    path = source / "config.json"
    if not path.exists():
        raise IsogenError(f"{source} is not a run folder (no config.json); --from needs a trained run")
    trained = Config.from_dict(read_json(path), source=str(path))
    config = trained.with_overrides(overrides)
    if not config.decoder_epochs:
        raise IsogenError(f"{source} trained no decoder stage; say how long this run's decoder trains: "
                          "decoder_epochs=K")
    relative = os.path.relpath(source.resolve(), run_dir.resolve())
    return dataclasses.replace(config, encoder_from=relative).validate()


def sweep(items: list[str]) -> list[tuple[str, dict[str, str]]]:
    """['seed=0,1', 'lr=1e-3,3e-3'] -> the grid [('seed0-lr1e-3', {'seed': '0', 'lr': '1e-3'}), ...]."""
    grid: list[dict[str, str]] = [{}]
    for key, values in parse_assignments(items).items():
        if not values or "" in values.split(","):
            raise IsogenError(f"--sweep {key}={values} needs comma-separated values, e.g. --sweep seed=0,1,2")
        grid = [{**point, key: value} for point in grid for value in values.split(",")]
    return [("-".join(f"{k}{v}" for k, v in point.items()), point) for point in grid]


def report_failures(failures: dict[str, str], where: Path) -> int:
    for name, error in failures.items():
        print(f"isogen: run {name} failed: {error}", file=sys.stderr)
    if failures:
        print(f"isogen: {len(failures)} run(s) failed, the others finished; see {where}", file=sys.stderr)
    return 1 if failures else 0


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise IsogenError(f"{name} must be a positive number, got {value}")


def cmd_sample(args) -> int:
    _positive("-n", args.n)
    config, method, model = load_run(args.run_dir, resolve_device(args.device))
    name = args.sampler or method.sampler_names[0]
    if name not in [*method.sampler_names, "oracle"]:
        raise IsogenError(f"{config.method} has no sampler {name!r}; its samplers: {', '.join(method.sampler_names)}, "
                          "oracle")
    out = args.out or args.run_dir / f"samples-{name}.png"
    rng = generator(torch.device("cpu"), args.seed, "samples")
    if out.suffix == ".npz":
        data = load_dataset(config.dataset, config.data_dir)
        if name == "oracle" and args.n > len(data.test_images):
            raise IsogenError(f"-n {args.n} exceeds the {len(data.test_images)} test images the oracle decodes")
        codes = (encode_images(model, data.test_images[:args.n]) if name == "oracle"
                 else run_samplers(args.run_dir, method, model, data)[name].sample(args.n, rng))
        write_images_npz(out, decode_codes(model, codes, rng), {"run": str(args.run_dir), "sampler": name,
                                                                "seed": args.seed})
    elif name == "oracle":
        raise IsogenError("the oracle is written as images: use --out FILE.npz")
    else:
        write_sample_grid(out, model, run_samplers(args.run_dir, method, model)[name], name, config.method, rng,
                          n=args.n)
    print(out)
    return 0


def cmd_interpolate(args) -> int:
    _positive("--pairs", args.pairs)
    _positive("--steps", args.steps)
    config, _, model = load_run(args.run_dir, resolve_device(args.device))
    data = load_dataset(config.dataset, config.data_dir)
    out = args.out or args.run_dir / "interpolations.png"
    write_interpolation_strips(out, model, data, config.method, generator(torch.device("cpu"), args.seed, "pairs"),
                               pairs=args.pairs, steps=args.steps)
    print(out)
    return 0


def cmd_eval(args) -> int:
    options = EvalOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(EvalOptions)}).validate()
    metrics = evaluate_run(args.run_dir, options, args.device)
    print(summary(metrics))
    return 0


def cmd_study(args) -> int:
    if launched_by_torchrun():
        raise IsogenError("isogen study runs as one process (it trains many runs at once); torchrun is for one run: "
                          "`torchrun ... -m isogen train`")
    spec = load_spec(args.spec)
    out = args.out or Path("results") / spec.name
    if args.plan:
        jobs, device = pending_jobs(spec, out, args.device), resolve_device(args.device)
        launcher = study_launcher(args.launcher, device)
        concurrent = args.concurrent or study_concurrency(jobs, device, launcher)
        print(plan(jobs, len(spec.runs()), concurrent, device, spec.name, launcher))
        return 0
    slurm = SlurmOptions(args.partition, args.time_min, args.gpus_per_task, args.cpus_per_task, args.mem_gb,
                         args.array_parallelism)
    failures = {} if args.report_only else run_study(spec, out, args.device, not args.no_progress,
                                                     concurrent=args.concurrent,
                                                     eval_workers=args.eval_workers, launcher=args.launcher,
                                                     slurm=slurm, hours=args.hours)
    folder = write_report(spec, out)
    print(f"report: {folder / 'report.md'} and {folder / 'report.html'}")
    return report_failures(failures, out / "failures.jsonl")


def cmd_explore(args) -> int:
    index = write_explorer(args.run_dirs, args.out, points=args.points, map_kind=args.map, seed=args.seed)
    print(f"explorer: open {index} in a browser")
    if args.serve is not None:
        try:
            serve(args.out, args.serve)
        except KeyboardInterrupt:  # Ctrl-C is how serving ends
            print("stopped serving")
    return 0


if __name__ == "__main__":
    sys.exit(main())
