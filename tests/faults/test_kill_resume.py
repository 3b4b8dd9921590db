"""SIGKILL training at a random point inside a step and again inside a checkpoint write, resume, and
compare with an unbroken run: same weights bit for bit on CPU, same log, no truncated file ever."""
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

# Enough epochs that the in-step kill (up to ~1.5 s after an epoch ends, ~0.5 s per epoch) cannot finish the
# run before the in-write kill.
ARGS = ["--preset", "smoke", "--no-progress", "epochs=8", "train_subset=768"]
TIMING = {"seconds", "images_per_s"}


def start(run: Path, resume: bool, write_delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "ISOGEN_FAULT_WRITE_DELAY_S": str(write_delay)}
    cmd = [sys.executable, "-m", "isogen", "train", "--run-dir", str(run), *ARGS] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def damaged_files(run: Path) -> int:
    """Files found damaged: a checkpoint that does not load, a log line that does not parse."""
    damaged = 0
    if (run / "checkpoint.pt").exists():
        try:
            load_checkpoint(run)
        except Exception:
            damaged += 1
    try:
        read_jsonl(run / "log.jsonl")
    except ValueError:
        damaged += 1
    return damaged


def epochs_logged(run: Path) -> int:
    try:
        return len(read_jsonl(run / "log.jsonl"))
    except ValueError:
        return -1


def test_sigkill_anywhere_then_resume_equals_unbroken(tmp_path, faults, wait_for):
    unbroken = tmp_path / "unbroken"
    assert start(unbroken, resume=False).wait(timeout=300) == 0

    broken = tmp_path / "broken"
    rng = random.Random(0)
    progress = []
    for attempt in range(2):  # once inside a training step, once inside a checkpoint write
        in_write = attempt == 1
        # In-write kills stretch every atomic write to 2 s and strike while a temporary file exists;
        # in-step kills strike at a random moment after the next epoch has started.
        proc = start(broken, resume=attempt > 0, write_delay=2.0 if in_write else 0.0)
        before = epochs_logged(broken)
        if in_write:
            hit = wait_for(lambda: any(broken.glob(".checkpoint.pt.*.tmp")), proc)
        else:
            hit = wait_for(lambda before=before: epochs_logged(broken) > max(before, 0), proc)
            time.sleep(rng.uniform(0.1, 1.5))
        assert hit and proc.poll() is None, "the run ended before the fault could be injected"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        damaged = damaged_files(broken)
        progress.append(epochs_logged(broken))
        where = "inside a checkpoint write" if in_write else "inside a training step"
        faults.record(f"SIGKILL {where} (attempt {attempt + 1}, {progress[-1]} epochs saved)", survived=damaged == 0,
                      files_lost=damaged)
        assert damaged == 0

    assert start(broken, resume=True).wait(timeout=300) == 0
    a, b = load_checkpoint(unbroken), load_checkpoint(broken)
    same_weights = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    def strip(log):
        return [{k: v for k, v in r.items() if k not in TIMING} for r in log]

    same_log = strip(read_jsonl(unbroken / "log.jsonl")) == strip(read_jsonl(broken / "log.jsonl"))
    faults.record("resume after 2 kills reproduces the unbroken run bit for bit", survived=same_weights and same_log)
    assert same_weights and same_log
    assert not list(broken.glob(".*.tmp"))  # leftovers of killed writes are cleaned on resume
    assert progress == sorted(progress) and progress[0] >= 1  # finished epochs are never lost
