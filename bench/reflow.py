"""Distil a flow decoder into a few-step student by reflow (Liu et al. 2023, arXiv 2209.03003) and write the
student as a run folder of its own, which `isogen sample`, `isogen eval` and bench/flow_steps.py read.

    PYTHONPATH=src python bench/reflow.py RUN --out STUDENT [--pairs 5000] [--steps 1500] [--batch 64]
                                          [--lr 1e-4] [--student-steps 1]

The teacher (RUN's decoder at its own solver and steps) draws one image per noise for the codes of the first
`pairs` training images; the student, started from the teacher, learns the straight line between each noise
and its image. STUDENT keeps RUN's encoder and samplers, its config says the student's Euler steps, and
reflow.json beside it records the distillation (settings, seconds, loss curve). Then, e.g.:

    PYTHONPATH=src python bench/flow_steps.py STUDENT --solvers euler --steps 1,2,4 -n 500
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import torch

from isogen.codes import encode_images
from isogen.data import load_dataset
from isogen.files import save_torch, write_json
from isogen.runs import CHECKPOINT, SAMPLERS, generator, load_checkpoint, load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--student-steps", type=int, default=1, help="the Euler steps the student's config sets")
    args = parser.parse_args()
    config, _, model = load_run(args.run)
    if not model.decoder.stochastic:
        raise SystemExit(f"{args.run} has a one-step decoder; reflow distils an ODE decoder")
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; choose a new folder for the student")
    data = load_dataset(config.dataset, config.data_dir)
    z = encode_images(model, data.train_images[:args.pairs])
    draws = generator(torch.device("cpu"), config.seed, "reflow")
    started = time.perf_counter()
    x0 = torch.randn(len(z), 1, 28, 28, generator=draws)
    x1 = model.decoder.integrate(x0, z)
    teacher_s = time.perf_counter() - started
    print(f"{len(z)} teacher pairs ({config.flow_solver}, {config.flow_steps} steps) in {teacher_s:.0f} s", flush=True)
    curve: list[dict] = []

    def log(step: int, loss: float) -> None:
        curve.append({"step": step, "loss": round(loss, 3), "seconds": round(time.perf_counter() - started, 1)})
        print(f"step {step}/{args.steps}: loss {loss:.2f}", flush=True)

    losses = model.decoder.reflow(z, x0, x1, draws, args.steps, args.batch, args.lr, log)
    student = dataclasses.replace(config, flow_solver="euler", flow_steps=args.student_steps, flow_guidance=1.0,
                                  encoder_from="")  # the checkpoint holds the encoder too
    args.out.mkdir(parents=True)
    save_torch(args.out / CHECKPOINT, {**load_checkpoint(args.run), "config": student.to_dict(),
                                       "model": model.state_dict()})
    if (args.run / SAMPLERS).exists():  # fitted to the same encoder's codes
        shutil.copyfile(args.run / SAMPLERS, args.out / SAMPLERS)
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    write_json(args.out / "reflow.json", {**settings, "teacher": f"{config.flow_solver}, {config.flow_steps} steps",
                                          "teacher_seconds": round(teacher_s, 1), "threads": torch.get_num_threads(),
                                          "seconds": round(time.perf_counter() - started, 1),
                                          "final_loss": sum(losses[-100:]) / 100, "curve": curve})
    print(f"student written to {args.out}")


if __name__ == "__main__":
    main()
