"""Finding the files a source names, their identity for the cache, and cheap header reads.

Used by the components that read raw files, before any Beam pipeline runs (pre-run checks, and
source fingerprints on fully cached runs): the standard library for local paths, TensorFlow's
gfile only for gs:// / s3:// paths (imported then, not at import of this module).
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from typing import IO, Any, cast

from seqline.pipeline import filesystem
from seqline.pipeline.errors import ConfigError


def _gfile() -> Any:
    import tensorflow as tf  # noqa: PLC0415 — only remote sources pay for TensorFlow

    return tf.io.gfile


def has_glob(path: str) -> bool:
    """True if `path` holds a glob character (* ? [)."""
    return any(ch in path for ch in "*?[")


def is_dir(path: str) -> bool:
    """True if `path` is a directory (local or remote)."""
    return _gfile().isdir(path) if filesystem.is_remote(path) else os.path.isdir(path)


def is_file(path: str) -> bool:
    """True if `path` exists and is not a directory (local or remote)."""
    if filesystem.is_remote(path):
        gfile = _gfile()
        return gfile.exists(path) and not gfile.isdir(path)
    return os.path.isfile(path)


def glob_files(pattern: str) -> list[str]:
    """The paths matching a glob pattern, sorted (directories included; see match_files)."""
    if filesystem.is_remote(pattern):
        return sorted(_gfile().glob(pattern))
    return sorted(glob.glob(pattern))


def match_files(source: str, extensions: Sequence[str]) -> list[str]:
    """The files `source` names, sorted; [] when it names none.

    `source` is a glob (the files it matches, whatever their extension), a directory (its files
    whose lower-cased name ends with one of `extensions`; not recursive, hidden files skipped),
    or a file.
    """
    if has_glob(source):
        files = [f for f in glob_files(source) if is_file(f)]
    elif is_dir(source):
        suffixes = tuple(extensions)
        files = [
            filesystem.join(source, name)
            for name in sorted(filesystem.listdir(source))
            if not name.startswith(".") and name.lower().endswith(suffixes)
        ]
        files = [f for f in files if is_file(f)]
    elif is_file(source):
        files = [source]
    else:
        files = []
    return sorted(files)


def file_stat(path: str) -> tuple[int, int]:
    """(size in bytes, mtime in ns) of a file."""
    if filesystem.is_remote(path):
        st = _gfile().stat(path)
        return int(st.length), int(st.mtime_nsec)
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def files_fingerprint(paths: Iterable[str]) -> str:
    """sha256 hex over each file's path, size and mtime (not contents, so it is fast even for
    50,000 small files). New, removed, resized or touched files give a new fingerprint; the
    order of `paths` matters (pass them sorted)."""
    digest = hashlib.sha256()
    for path in paths:
        size, mtime = file_stat(path)
        digest.update(f"{path}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def open_binary(path: str) -> IO[bytes]:
    """Opens a local or remote file for reading bytes, gunzipping `.gz` files."""
    if filesystem.is_remote(path):
        raw: Any = _gfile().GFile(path, "rb")
    else:
        raw = open(path, "rb")  # noqa: SIM115 — returned to the caller, who closes it
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw


def read_csv_header(path: str) -> list[str]:
    """The header row of a CSV file (names stripped; [] for an empty file; a UTF-8 BOM is
    ignored). Raises ConfigError when the first line is not parseable CSV."""
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        try:
            return [name.strip() for name in next(csv.reader(text))]
        except StopIteration:
            return []
        except csv.Error as err:
            raise ConfigError(
                f"source: expected {path} to start with a CSV header row, got unparseable "
                f"CSV ({err}); fix the file's first line"
            ) from err
