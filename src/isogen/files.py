"""Atomic writes for everything a run leaves behind.

Every file is written to a temporary sibling, flushed to disk, then renamed over
its destination, so a reader (or a resumed run) sees either the old file or the
new one, never a truncated mix.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import IsogenError

# Fault injection (tests/faults): seconds to pause between writing a temporary file and renaming it,
# so that a test can kill the process inside that window.
_FAULT_WRITE_DELAY_S = float(os.environ.get("ISOGEN_FAULT_WRITE_DELAY_S", "0") or 0)


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise IsogenError(f"cannot write in {path.parent}: {e.strerror}; choose a writable folder") from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if _FAULT_WRITE_DELAY_S:
            import time

            time.sleep(_FAULT_WRITE_DELAY_S)
        os.replace(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise IsogenError(f"could not write {path}: {e.strerror}; free some space or choose another folder") from e
    except BaseException:
        os.unlink(tmp)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Delete temporary files left by a process killed mid-write (their destinations are intact)."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise IsogenError(f"{path} is not valid JSON ({e.msg}); delete it or restore it") from e


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    import torch

    atomic_write(path, lambda f: torch.save(obj, f))


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cache_dir() -> Path:
    """$ISOGEN_CACHE, else $XDG_CACHE_HOME/isogen, else ~/.cache/isogen."""
    root = os.environ.get("ISOGEN_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "isogen"
    return Path(root)
