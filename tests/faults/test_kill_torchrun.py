"""SIGKILL a 2-process torchrun training (the launcher and both ranks at once, as when a node dies) after a
checkpoint, resume it under torchrun, and compare with an unbroken 2-process run: the same
weights bit for bit (gloo's sums over two ranks are deterministic), the same log, no damaged file."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from isogen.files import read_jsonl
from isogen.runs import load_checkpoint

ARGS = ["--preset", "smoke", "--no-progress", "epochs=5", "train_subset=512", "checkpoint_every=1"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "isogen",
            "train"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TIMING = {"seconds", "images_per_s"}


def epochs_logged(run) -> int:
    try:
        return len(read_jsonl(run / "log.jsonl"))
    except (FileNotFoundError, ValueError):
        return 0


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (torchrun starts each rank in a session of its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_sigkill_a_torchrun_job_then_resume_equals_unbroken(tmp_path, faults, wait_for):
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"
    subprocess.run([*TORCHRUN, "--run-dir", str(unbroken), *ARGS], env=ENV, check=True, capture_output=True,
                   timeout=600)

    job = subprocess.Popen([*TORCHRUN, "--run-dir", str(broken), *ARGS], env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    assert wait_for(lambda: epochs_logged(broken) >= 2, job, timeout=300)
    for pid in [*children(job.pid), job.pid]:  # the ranks, then the launcher
        os.kill(pid, signal.SIGKILL)
    job.wait()
    killed_at = epochs_logged(broken)
    assert 2 <= killed_at < 5 and not (broken / "samplers.pt").exists()

    resumed = subprocess.run([*TORCHRUN, "--run-dir", str(broken), "--resume"], env=ENV, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {broken} at epoch {killed_at}/5" in resumed.stdout

    a, b = load_checkpoint(broken), load_checkpoint(unbroken)
    same_weights = all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    strip = [[{k: v for k, v in r.items() if k not in TIMING} for r in read_jsonl(run / "log.jsonl")]
             for run in (broken, unbroken)]
    faults.record("torchrun: SIGKILL of the launcher and both ranks", same_weights and strip[0] == strip[1])
    assert same_weights and strip[0] == strip[1]
    assert (broken / "samplers.pt").exists() and not list(broken.glob("*.tmp*"))
