"""File I/O that works for local paths (also written ``file:///...``) and for remote roots.

Local paths use the standard library (fast, and no TensorFlow import on a fully cached run);
any other path with a URL scheme goes through tf.io.gfile, imported only then. Which schemes
work is up to the installed TensorFlow (``tf.io.gfile.get_registered_schemes()``): gs:// is
built in; s3:// and hdfs:// need the ``tensorflow-io`` package (TensorFlow >= 2.6 moved them
there), which registers them when imported, and which this module imports on the first such
path. A path whose scheme is not registered raises UnsupportedSchemeError naming the schemes
that are, before any I/O (check_scheme does the same up front).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

# Schemes that tensorflow-io registers with tf.io.gfile when it is imported.
_TENSORFLOW_IO_SCHEMES = frozenset({"s3", "hdfs", "viewfs", "har"})
# Registered by every TensorFlow build seqline supports (tf.io.gfile.get_registered_schemes()
# lists them on import), so checking them needs no TensorFlow import.
_BUILT_IN_SCHEMES = frozenset({"gs", "ram"})
_usable_schemes: set[str] = set()  # schemes already found registered (checked once each)


class UnsupportedSchemeError(ValueError):
    """A path's URL scheme is not one the installed TensorFlow can open (e.g. s3:// without
    tensorflow-io). Its message names the registered schemes and how to add the missing one."""


def is_remote(path: str) -> bool:
    """True for 'gs://bucket/x', 's3://...', 'hdfs://...'; False for local paths, including
    'file:///x' (which local_path turns into '/x')."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """``path`` without a leading 'file://' ('file:///srv/m' -> '/srv/m'); other paths as
    they are. What the standard library needs for a local path given as a file:// URL."""
    return path[len("file://") :] if path.startswith("file://") else path


def absolute(path: str) -> str:
    """A remote path as it is; a local one (or file:// URL) as an absolute local path, so two
    spellings of one local folder compare equal."""
    return path if is_remote(path) else os.path.abspath(local_path(path))


def scheme(path: str) -> str:
    """The URL scheme of ``path`` ('gs' for 'gs://b/x'); '' for a plain local path."""
    return path.split("://", 1)[0] if "://" in path else ""


def check_scheme(path: str) -> None:
    """Raises UnsupportedSchemeError unless ``path`` is local or its scheme is registered with
    tf.io.gfile (importing tensorflow-io first for s3:// and hdfs://, if it is installed).

    Pre-run checks call this on every run, fully cached ones included, which must not pay
    for TensorFlow: the schemes TensorFlow always registers (gs://, ram://) pass, and s3://
    or hdfs:// without tensorflow-io installed fail, without importing it. Only another
    scheme, or one tensorflow-io would add, imports TensorFlow to ask its registry."""
    wanted = scheme(path)
    if not is_remote(path) or wanted in _BUILT_IN_SCHEMES:
        return
    if wanted in _TENSORFLOW_IO_SCHEMES and importlib.util.find_spec("tensorflow_io") is None:
        raise UnsupportedSchemeError(_unsupported(path, wanted, sorted(_BUILT_IN_SCHEMES)))
    _gfile(path)


def _gfile(path: str) -> Any:
    """tf.io.gfile, after checking that it can open ``path``'s scheme (UnsupportedSchemeError:
    TensorFlow's own error, "File system scheme 's3' not implemented", names no remedy)."""
    import tensorflow as tf  # noqa: PLC0415 — only remote roots pay for TensorFlow

    wanted = scheme(path)
    if wanted in _usable_schemes:
        return tf.io.gfile
    registered = set(tf.io.gfile.get_registered_schemes())
    if wanted not in registered and wanted in _TENSORFLOW_IO_SCHEMES:
        with contextlib.suppress(ImportError):  # not installed: the error below says so
            import tensorflow_io  # noqa: F401, PLC0415 — registers s3://, hdfs:// with gfile
        registered = set(tf.io.gfile.get_registered_schemes())
    if wanted not in registered:
        raise UnsupportedSchemeError(_unsupported(path, wanted, sorted(registered)))
    _usable_schemes.add(wanted)
    return tf.io.gfile


def _unsupported(path: str, wanted: str, registered: list[str]) -> str:
    """UnsupportedSchemeError's message: the schemes that work and how to add `wanted`."""
    known = sorted(f"{s}://" for s in registered if s not in ("", "file"))
    how = (
        f"{wanted}:// needs the tensorflow-io package (TensorFlow >= 2.6 moved s3:// and "
        "hdfs:// there): `pip install tensorflow-io` (seqline imports it on the first "
        f"{wanted}:// path), or use a local path or one of those schemes"
        if wanted in _TENSORFLOW_IO_SCHEMES
        else "use a local path or one of those schemes"
    )
    return (
        f"{path}: expected a local path or a URL scheme this TensorFlow can open "
        f"({', '.join(known)}), got {wanted}://; {how}"
    )


def join(base: str, *parts: str) -> str:
    """Joins path segments with '/', for local and remote paths alike."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def exists(path: str) -> bool:
    return _gfile(path).exists(path) if is_remote(path) else os.path.exists(local_path(path))


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile(path).makedirs(path)
    else:
        os.makedirs(local_path(path), exist_ok=True)


def read_text(path: str) -> str:
    if is_remote(path):
        with _gfile(path).GFile(path, "r") as f:
            return f.read()
    with open(local_path(path), encoding="utf-8") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    """Writes a whole file. Local writes go to a temp file then rename, so readers never see
    half of it."""
    if is_remote(path):
        with _gfile(path).GFile(path, "w") as f:
            f.write(text)
        return
    local = local_path(path)
    tmp = f"{local}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, local)


def listdir(path: str) -> list[str]:
    if is_remote(path):
        return [p.rstrip("/") for p in _gfile(path).listdir(path)]
    return os.listdir(local_path(path))


def rmtree(path: str) -> None:
    if is_remote(path):
        if _gfile(path).exists(path):
            _gfile(path).rmtree(path)
    else:
        shutil.rmtree(local_path(path), ignore_errors=True)


def rename(src: str, dst: str) -> None:
    """Renames a directory; never onto an existing destination.

    Atomic on a local filesystem. On object stores (gs://) it is a copy object by object, in
    name order, then a delete: a process killed midway leaves a destination that holds some
    files, possibly ``artifact.json`` already (the publisher writes it into the temporary
    before the rename, so it is no completion mark there). What protects such a half-copied
    artifact is its manifest, ``.seqline-files.json`` (pipeline/artifact_manifest.py): it is
    written into the temporary too, and its leading '.' sorts it before every other name, so
    it is copied first; a later cache hit checks the destination with ``damage()``, finds the
    files the manifest lists but the copy lacks, and the runner re-executes the node, which
    replaces the directory.
    """
    if is_remote(src):
        _gfile(src).rename(src, dst, overwrite=False)
    else:
        os.rename(local_path(src), local_path(dst))


def replace_file(src: str, dst: str) -> None:
    """Renames file `src` over `dst`, which may exist (atomic on a local filesystem; on an
    object store the object at `dst` is replaced whole)."""
    if is_remote(src):
        _gfile(src).rename(src, dst, overwrite=True)
    else:
        os.replace(local_path(src), local_path(dst))


def walk_files(path: str) -> Iterator[str]:
    """Yields every file below `path` (full paths), in sorted order."""
    if is_remote(path):
        for root, _dirs, files in _gfile(path).walk(path):
            for name in sorted(files):
                yield join(root, name)
        return
    for root, dirs, files in os.walk(local_path(path)):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


def copytree(src: str, dst: str) -> None:
    """Copies a directory tree file by file (works across local and remote filesystems)."""
    if not is_remote(src) and not is_remote(dst):
        shutil.copytree(local_path(src), local_path(dst))
        return
    gfile = _gfile(src if is_remote(src) else dst)
    if is_remote(src) and is_remote(dst):
        _gfile(dst)  # both schemes must be registered
    for root, _dirs, files in gfile.walk(src):
        rel = root[len(src) :].strip("/")
        target_dir = join(dst, rel) if rel else dst
        gfile.makedirs(target_dir)
        for name in files:
            gfile.copy(join(root, name), join(target_dir, name), overwrite=True)
