"""Compare two study folders run for run: metrics.json, log.jsonl and every PNG, bit for bit.

    python bench/compare_studies.py OLD_STUDY_DIR NEW_STUDY_DIR

Wall-clock fields (seconds, images/s), the environment record and the evaluation options are left
out; everything else must be equal (floats compared exactly, as JSON stores them). Use it to show
that a refactor changes nothing numerically: run the same study with the old and the new code on one
machine (e.g. the old code from `git worktree add /tmp/old <sha>` with PYTHONPATH=/tmp/old/src).
Exits 1 when anything differs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

WALL_CLOCK = {"seconds", "images_per_s", "environment", "options"}


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in WALL_CLOCK}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def differences(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in one" for k in sorted(set(a) ^ set(b))]
        return out + [d for k in sorted(set(a) & set(b)) for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=False)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def read(path: Path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def main(old: Path, new: Path) -> int:
    for folder in (old, new):
        if not (folder / "runs").is_dir():
            print(f"{folder} holds no runs/ folder: point at a study's output folder (results/<study>)")
            return 2
    found, runs, pictures = [], 0, 0
    for run in sorted((old / "runs").iterdir()):
        other = new / "runs" / run.name
        runs += 1
        for name in ("metrics.json", "log.jsonl"):
            found += [f"{run.name}/{name}{d}" for d in differences(strip(read(run / name)), strip(read(other / name)))]
        for png in sorted(run.rglob("*.png")):
            pictures += 1
            twin = other / png.relative_to(run)
            if not twin.exists() or twin.read_bytes() != png.read_bytes():
                found.append(f"{run.name}/{png.relative_to(run)}: pictures differ")
    print("\n".join(found[:50]))
    print(f"{runs} runs, {pictures} pictures compared: {len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
