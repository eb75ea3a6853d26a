"""File I/O that works for local paths and for gs:// / s3:// roots.

Local paths use the standard library (fast, and no TensorFlow import on a fully cached run);
any path with a URL scheme goes through tf.io.gfile, imported only then.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any


def is_remote(path: str) -> bool:
    """True for 'gs://bucket/x', 's3://...', 'hdfs://...'; False for local paths."""
    return "://" in path and not path.startswith("file://")


def _gfile() -> Any:
    import tensorflow as tf  # noqa: PLC0415 — only remote roots pay for TensorFlow

    return tf.io.gfile


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def join(base: str, *parts: str) -> str:
    """Joins path segments with '/', for local and remote paths alike."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(_local(path))


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(_local(path), exist_ok=True)


def read_text(path: str) -> str:
    if is_remote(path):
        with _gfile().GFile(path, "r") as f:
            return f.read()
    with open(_local(path), encoding="utf-8") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    """Writes a whole file. Local writes go to a temp file then rename, so readers never see
    half of it."""
    if is_remote(path):
        with _gfile().GFile(path, "w") as f:
            f.write(text)
        return
    local = _local(path)
    tmp = f"{local}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, local)


def listdir(path: str) -> list[str]:
    if is_remote(path):
        return [p.rstrip("/") for p in _gfile().listdir(path)]
    return os.listdir(_local(path))


def rmtree(path: str) -> None:
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(_local(path), ignore_errors=True)


def rename(src: str, dst: str) -> None:
    """Renames a directory. Atomic on a local filesystem; on object stores it is a copy, which is
    why an artifact's descriptor is written last and is what makes it visible."""
    if is_remote(src):
        _gfile().rename(src, dst, overwrite=False)
    else:
        os.rename(_local(src), _local(dst))


def walk_files(path: str) -> Iterator[str]:
    """Yields every file below `path` (full paths), in sorted order."""
    if is_remote(path):
        for root, _dirs, files in _gfile().walk(path):
            for name in sorted(files):
                yield join(root, name)
        return
    for root, dirs, files in os.walk(_local(path)):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


def copytree(src: str, dst: str) -> None:
    """Copies a directory tree file by file (works across local and remote filesystems)."""
    if not is_remote(src) and not is_remote(dst):
        shutil.copytree(_local(src), _local(dst))
        return
    gfile = _gfile()
    for root, _dirs, files in gfile.walk(src):
        rel = root[len(src) :].strip("/")
        target_dir = join(dst, rel) if rel else dst
        gfile.makedirs(target_dir)
        for name in files:
            gfile.copy(join(root, name), join(target_dir, name), overwrite=True)
