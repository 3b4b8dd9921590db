"""The device script itself, on every commit: its dry run takes every stage on the CPU at smoke size, and its
closing table reports each stage's exit status and wall time."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_gpu_check_dry_run_passes_every_stage(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    table = (tmp_path / "summary.txt").read_text()
    rows = re.findall(r"^(\w+) +exit +(\d+) +([\d.]+) s", table, flags=re.M)
    assert [(name, status) for name, status, _ in rows] == [("tests", "0"), ("throughput", "0"), ("study", "0")], table
    assert "runs evaluated: 1" in table and "cuda_graph=false" in table
