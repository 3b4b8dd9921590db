"""Registries are plain dicts from a name to a class; `lookup` turns a wrong name into a clear error."""
from __future__ import annotations

from typing import TypeVar

from .errors import IsogenError

T = TypeVar("T")


def lookup(registry: dict[str, T], kind: str, name: str) -> T:
    """registry[name], or an error that lists the valid names."""
    if name not in registry:
        raise IsogenError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(registry)}")
    return registry[name]
