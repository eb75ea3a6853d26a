"""Finding the files a source names, their identity for the cache, and cheap header reads.

Used by the components that read raw files, before any Beam pipeline runs (pre-run checks, and
source fingerprints on fully cached runs): the standard library for local paths, TensorFlow's
gfile only for gs:// / s3:// paths (imported then, not at import of this module).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import IO, Any

from seqline.pipeline.compressed_input import decompressed
from seqline.pipeline.csv_stream import cr_line_endings_problem, csv_text, read_records
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.record_size import DEFAULT_MAX_RECORD_BYTES
from seqline.storage import filesystem

# The pre-run header checks read the header of every local file (one small read each) but of at
# most this many remote ones (one round trip each); the parsers reject every row of any other
# file whose header lacks a configured column (header_mismatch), so no row is ever lost.
HEADER_CHECK_MAX_REMOTE_FILES = 20


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


# How many names of a folder's unread files a log line quotes.
UNREAD_NAMES_SHOWN = 5


def unread_folder_files(source: str, extensions: Sequence[str]) -> list[str]:
    """The names of the files a directory `source` holds that match_files does not read (no
    name ending with one of `extensions`, any case), sorted; hidden files are skipped by
    design and not listed. [] when `source` is not a directory (a glob reads what it matches)."""
    if has_glob(source) or not is_dir(source):
        return []
    suffixes = tuple(extensions)
    return [
        name
        for name in sorted(filesystem.listdir(source))
        if not name.startswith(".")
        and not name.lower().endswith(suffixes)
        and is_file(filesystem.join(source, name))
    ]


def unread_folder_note(source: str, extensions: Sequence[str]) -> str | None:
    """A log line saying how many files of a directory `source` are not read and naming the
    first few (so no file is skipped without a word), or None when it reads them all."""
    unread = unread_folder_files(source, extensions)
    if not unread:
        return None
    shown = ", ".join(unread[:UNREAD_NAMES_SHOWN])
    more = (
        f" and {len(unread) - UNREAD_NAMES_SHOWN} more" if len(unread) > UNREAD_NAMES_SHOWN else ""
    )
    return (
        f"{source} holds {len(unread)} file(s) that are not read, their names ending in none "
        f"of {'/'.join(extensions)}: {shown}{more}; rename them to be read, or point source at "
        "a glob"
    )


def file_stat(path: str) -> tuple[int, int]:
    """(size in bytes, mtime in ns) of a file."""
    if filesystem.is_remote(path):
        st = _gfile().stat(path)
        return int(st.length), int(st.mtime_nsec)
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def file_identity(path: str) -> str:
    """What tells one version of a file from another without reading it: size and mtime, and
    locally the inode and ctime too. `cp -p`, `rsync -t` and `tar x` restore an old mtime on
    new content of the same size; none of them can set ctime (any write or replacement of the
    file moves it), and a replaced file has a new inode. Object stores: size and mtime."""
    if filesystem.is_remote(path):
        size, mtime = file_stat(path)
        return f"{size}\0{mtime}"
    st = os.stat(path)
    return f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_ctime_ns}"


def files_fingerprint(paths: Iterable[str]) -> str:
    """sha256 hex over each file's path and file_identity (not contents, so it is fast even
    for 50,000 small files). New, removed, resized, rewritten or replaced files give a new
    fingerprint; the order of `paths` matters (pass them sorted)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path}\0{file_identity(path)}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def open_binary(path: str) -> IO[bytes]:
    """Opens a local or remote file for reading bytes, decompressed by its suffix as the Beam
    readers do (.gz, .bz2, .xz, ...; pipeline/compressed_input.py): reads raise DataError
    naming the file when it is damaged."""
    if filesystem.is_remote(path):
        raw: Any = _gfile().GFile(path, "rb")
    else:
        raw = open(path, "rb")  # noqa: SIM115 — returned to the caller, who closes it
    return decompressed(raw, path)


def header_check_files(files: Sequence[str]) -> list[str]:
    """The files whose header a pre-run check reads: every local file, and the first
    HEADER_CHECK_MAX_REMOTE_FILES remote ones (in the given order)."""
    local = [f for f in files if not filesystem.is_remote(f)]
    remote = [f for f in files if filesystem.is_remote(f)][:HEADER_CHECK_MAX_REMOTE_FILES]
    return local + remote


def repeated_columns(header: Sequence[str], columns: Iterable[str]) -> dict[str, list[int]]:
    """Each of `columns` that `header` names more than once -> its 1-based positions, in the
    order of `columns` ({} when none repeats). Names of columns not in `columns` may repeat:
    nothing reads them."""
    found: dict[str, list[int]] = {}
    for column in dict.fromkeys(columns):
        positions = [i + 1 for i, name in enumerate(header) if name == column]
        if len(positions) > 1:
            found[column] = positions
    return found


def repeated_columns_problem(header: Sequence[str], columns: Iterable[str]) -> str | None:
    """What is wrong with a CSV header naming a configured column more than once, as a
    message fragment ("names the column 'label' 2 times (positions 2, 3) ..."), or None.

    Which copy holds the data cannot be told (csv.DictReader keeps the last, pandas renames the
    second), so the header is refused rather than one copy picked, as a JSON object repeating a
    key is (malformed_json)."""
    repeated = repeated_columns(header, columns)
    if not repeated:
        return None
    named = "; ".join(
        f"the column {name!r} {len(positions)} times (positions {', '.join(map(str, positions))})"
        for name, positions in repeated.items()
    )
    return (
        f"header {list(header)} names {named}, and which copy holds the data cannot be told; "
        "rename or remove the extra column(s) in the file, or point the *_column field(s) at "
        "a column named once"
    )


def read_csv_header(path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> list[str]:
    """The header row of a CSV file: its first non-blank record, names stripped ([] for a file
    with no record; a UTF-8 BOM is ignored). Reads only that record. Raises ConfigError when
    it is not parseable CSV, is over `max_record_bytes`, holds a carriage return outside quotes
    (a file with old-Mac \\r line endings), or the file is not in the compressed format its
    suffix names."""
    try:
        names = _csv_header(path, max_record_bytes)
    except DataError as e:  # a damaged compressed file, found before the run
        raise ConfigError(f"source: {e}") from e
    # UTF-16 text read as UTF-8: a byte-order mark as two undecodable bytes, NULs between
    # the ASCII letters. Every row would be rejected; say what the file is instead.
    if names and (names[0][:2] in ("\udcff\udcfe", "\udcfe\udcff") or "\x00" in "".join(names)):
        raise ConfigError(
            f"source: expected UTF-8 text, but {path} looks like UTF-16 (a UTF-16 byte-order "
            "mark or NUL bytes in its header); convert it, e.g. `iconv -f UTF-16 -t UTF-8`"
        )
    return names


def _csv_header(path: str, max_record_bytes: int) -> list[str]:
    with open_binary(path) as raw:
        for record in read_records(csv_text(raw), max_record_bytes, keep_chars=200):
            if record.fields == []:
                continue  # blank lines before the header
            cr_problem = cr_line_endings_problem(record)
            if cr_problem is not None:
                raise ConfigError(f"source: {path}: {cr_problem}")
            if record.too_large:
                problem = f"a first record of {record.size} bytes, over max_record_bytes"
            elif record.fields is None:
                problem = f"unparseable CSV ({record.error})"
            else:
                return [name.strip() for name in record.fields]
            raise ConfigError(
                f"source: expected {path} to start with a CSV header row, got {problem}; fix "
                "the file's first line"
            )
    return []
