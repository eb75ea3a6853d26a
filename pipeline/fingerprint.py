"""Fingerprints: same component code, config and inputs -> same fingerprint -> cache hit."""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Files that do not change behaviour and must not invalidate caches.
_IGNORED_SUFFIXES = (".pyc", ".pyo")
_IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


@functools.cache
def code_hash(directory: Path) -> str:
    """sha256 over every file's relative path and bytes in `directory` (the whole component
    folder, not only component.py), in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_dir() or path.suffix in _IGNORED_SUFFIXES:
            continue
        if any(part in _IGNORED_DIRS for part in path.relative_to(directory).parts):
            continue
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def config_json(config: Any) -> str:
    """Canonical JSON of a config dataclass (sorted keys, tuples as lists)."""
    return json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))


def node_fingerprint(
    component_name: str,
    code_dir: Path,
    config: Any,
    input_fingerprints: Mapping[str, str],
    source: str = "",
    resolved_fingerprints: Mapping[str, str] | None = None,
) -> str:
    """Fingerprint of one execution: 20 hex chars of sha256 over the component name, its whole
    folder's code, its config, its inputs' fingerprints (by input name), its resolved inputs'
    fingerprints ("none" when nothing was resolved) and, for components that read outside
    data, that data's identity."""
    digest = hashlib.sha256()
    for part in (
        component_name,
        code_hash(code_dir),
        config_json(config),
        json.dumps(dict(sorted(input_fingerprints.items()))),
        source,
        json.dumps(dict(sorted((resolved_fingerprints or {}).items()))),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]
