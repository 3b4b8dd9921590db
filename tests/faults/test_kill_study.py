"""SIGKILL `isogen study` while two runs train at once, and again while one is being evaluated; the
restarted study ends exactly where an unbroken one does (CPU: bit for bit), and no file is ever damaged."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from isogen.files import read_jsonl
from isogen.runs import load_checkpoint

SPEC = {"name": "kill", "preset": "smoke", "overrides": {"epochs": 4, "train_subset": 768},
        "entries": [{"label": "sigreg", "method": "sigreg-sphere"}, {"label": "vae", "method": "vae"}],
        "dims": [8],
        "eval": {"kid_samples": 0, "maps": False, "samples": 100, "pairs": 10, "null_draws": 5, "probe_train": 300,
                 "views": 500, "reconstructions": 500,
                 "prdc_samples": 100}}
RUNS = ["sigreg-d8-s0", "vae-d8-s0"]
WALL_CLOCK = {"seconds", "images_per_s", "environment"}


def start(spec: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "isogen", "study", str(spec), "--out", str(out), "--concurrent", "2"]
    return subprocess.Popen(cmd, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def epochs_logged(out: Path, run: str) -> int:
    try:
        return len(read_jsonl(out / "runs" / run / "log.jsonl"))
    except ValueError:
        return -1


def damaged_files(out: Path) -> int:
    damaged = 0
    for path in out.rglob("*"):
        try:
            if path.name == "checkpoint.pt":
                load_checkpoint(path.parent)
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".jsonl":
                read_jsonl(path)
        except Exception:
            damaged += 1
    return damaged


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in WALL_CLOCK}
    return [strip(v) for v in x] if isinstance(x, list) else x


def test_sigkill_a_study_with_runs_in_flight_then_resume_equals_unbroken(tmp_path, faults, wait_for):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    assert start(spec, tmp_path / "unbroken").wait(timeout=600) == 0

    broken, rng = tmp_path / "broken", random.Random(0)
    proc = start(spec, broken)  # kill 1: both runs in flight, a random moment after each logged an epoch
    hit = wait_for(lambda: all(epochs_logged(broken, r) >= 2 for r in RUNS), proc)
    time.sleep(rng.uniform(0.05, 0.5))
    assert hit and proc.poll() is None, "the study ended before the fault could be injected"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    in_flight = [epochs_logged(broken, r) for r in RUNS]
    faults.record(f"SIGKILL of a study with 2 runs in flight (epochs saved: {in_flight})",
                  survived=damaged_files(broken) == 0, files_lost=damaged_files(broken))
    proc = start(spec, broken)  # kill 2: while the runs are being evaluated
    hit = wait_for(lambda: any((broken / "runs" / r / "metrics.json").exists() for r in RUNS), proc)
    assert hit and proc.poll() is None, "the study ended before the fault could be injected"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    faults.record("SIGKILL of a study during evaluation", survived=damaged_files(broken) == 0,
                  files_lost=damaged_files(broken))
    assert start(spec, broken).wait(timeout=600) == 0

    same = True
    roots = (tmp_path / "unbroken", broken)
    for run in RUNS:
        a, b = (json.loads((root / "runs" / run / "metrics.json").read_text()) for root in roots)
        ca, cb = (load_checkpoint(root / "runs" / run) for root in roots)
        same &= strip(a) == strip(b) and all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
    faults.record("a study killed twice ends bit for bit as an unbroken one", survived=same)
    assert same
    assert (broken / "report" / "report.md").exists() and not list(broken.rglob(".*.tmp"))
