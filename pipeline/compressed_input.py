"""Reading possibly compressed input files so that a damaged one is an error, never a short read.

    compression_of(path)        "gzip" | "bzip2" | "lzma" | "deflate" | "zstd" | None, by suffix
    compression_by_magic(head)  the same from a file's first bytes (no magic for deflate)
    with_compression(exts)      the extensions, each also followed by every compression suffix
    decompressed(raw, path)     a buffered binary stream of the file's decompressed bytes

The suffixes are Beam's (CompressionTypes.detect_compression_type: .gz, .bz2, .xz, .lzma,
.deflate, .zst, .zstd, case-insensitive), so the pre-run checks and the Beam readers agree on
what a file holds. Beam's own CompressedFile stops quietly where a truncated gzip file ends,
which loses the rest of the file without a trace; here every format checks its end-of-stream
marker (and gzip its CRC), needs at least one complete stream (a 0-byte file is refused, as
`gzip -t` refuses it), and any damage raises DataError naming the file, what is wrong and
how to check it. Records already read from the file stay read: the ingest run then fails, so
nothing is published from a partly read file.

Pure Python (gzip, bz2, lzma, zlib; zstandard, a Beam dependency, only for .zst files).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable, Iterable
from typing import IO, Any, cast

from seqline.pipeline.errors import DataError

_SUFFIXES = {
    ".gz": "gzip",
    ".bz2": "bzip2",
    ".xz": "lzma",
    ".lzma": "lzma",
    ".deflate": "deflate",
    ".zst": "zstd",
    ".zstd": "zstd",
}
COMPRESSION_SUFFIXES: tuple[str, ...] = tuple(_SUFFIXES)


def with_compression(extensions: Iterable[str]) -> tuple[str, ...]:
    """`extensions` (lower case, e.g. (".csv",)) and each of them followed by every suffix
    `decompressed` reads (".csv.gz", ".csv.bz2", ..., ".csv.zstd"): the names a folder source
    reads, so the folder listing and the readers agree on what is a compressed file."""
    return tuple(
        name for ext in extensions for name in (ext, *(ext + s for s in COMPRESSION_SUFFIXES))
    )


_CHECK_COMMAND = {
    "gzip": "gzip -t",
    "bzip2": "bzip2 -t",
    "lzma": "xz -t",
    "zstd": "zstd -t",
}
_CHUNK = 1 << 16


def compression_of(path: str) -> str | None:
    """The compression a file's suffix names (case-insensitive), or None for a plain file."""
    lowered = path.lower()
    for suffix, kind in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    return None


# The first bytes of each format that has them (raw deflate has none).
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "lzma"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
MAGIC_BYTES = 6  # enough of a file's head for compression_by_magic


def compression_by_magic(head: bytes) -> str | None:
    """The compression a file's first bytes announce (gzip, bzip2, xz, zstd), or None.

    For files whose name carries no compression suffix: readers decide by suffix only, so a
    compressed file named without one would be read as garbage (e.g. TFRecord's "Mismatch of
    length mask"); callers check with this and say how to fix the name."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def decompressed(raw: IO[bytes], path: str) -> IO[bytes]:
    """`raw` (the file's bytes, opened by the caller) decompressed by `path`'s suffix, as a
    buffered binary stream; a plain file is returned as it is. Closing the result closes `raw`.

    Reads raise DataError naming `path` when the data is not in the format its suffix names,
    is corrupt, or ends before the format's end-of-stream marker (a truncated copy)."""
    kind = compression_of(path)
    if kind is None:
        return raw
    counted = _Counting(raw)  # an empty file is no complete stream in any format
    raw = cast(IO[bytes], counted)
    stream: Any
    if kind == "gzip":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    elif kind == "bzip2":
        stream = bz2.BZ2File(raw, "rb")
    elif kind == "lzma":
        stream = lzma.LZMAFile(raw, "rb")  # noqa: SIM115 — closed by _Checked.close
    elif kind == "deflate":
        stream = _Inflating(raw, zlib.decompressobj)
    else:
        import zstandard  # noqa: PLC0415 — only for .zst files

        stream = _Inflating(raw, lambda: zstandard.ZstdDecompressor().decompressobj())
    return cast(IO[bytes], io.BufferedReader(_Checked(stream, counted, path, kind), _CHUNK))


def _damage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [EOFError, OSError, zlib.error, lzma.LZMAError]
    try:
        import zstandard  # noqa: PLC0415

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover — installed with apache-beam
        pass
    return tuple(errors)


class _Checked(io.RawIOBase):
    """Reads `stream` (a decompressor over `raw`), turning its errors into DataError."""

    def __init__(self, stream: Any, raw: _Counting, path: str, kind: str) -> None:
        self._stream, self._raw, self._path, self._kind = stream, raw, path, kind
        self._errors = _damage_errors()
        self._delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._stream.read(len(buffer))
            if not data and not self._raw.count:
                # gzip and zstd read an empty file as empty data; gzip -t / zstd -t refuse it
                raise EOFError("the file is empty")
        except self._errors as e:
            raise DataError(self._explain(e)) from e
        buffer[: len(data)] = data
        self._delivered += len(data)
        return len(data)

    def _explain(self, error: BaseException) -> str:
        if isinstance(error, EOFError) and not self._raw.count:
            what = (
                f"the file is empty (0 bytes), not even one complete {self._kind} stream (a "
                "copy that failed before its first block?)"
            )
        elif isinstance(error, EOFError):
            what = f"the {self._kind} data ends before its end-of-stream marker (a truncated copy?)"
        else:
            what = f"it is not valid {self._kind} data ({type(error).__name__}: {error})"
        check = _CHECK_COMMAND.get(self._kind)
        where = f" after {self._delivered} bytes of data" if self._delivered else ""
        return (
            f"{self._path}: expected a complete {self._kind} file (its suffix says so), but "
            f"{what}{where}. Replace the file with a complete copy"
            f"{f' (`{check} FILE` checks one)' if check else ''}, or rename it if it is not "
            "compressed"
        )

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
            finally:
                self._raw.close()
        super().close()


class _Counting(io.RawIOBase):
    """`raw` read through, counting its bytes (`count`): an empty file is told from a
    complete stream of empty data."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _Inflating(io.RawIOBase):
    """A stream decompressor over `raw` from a decompressobj factory (zlib, zstandard) that
    follows concatenated streams and raises EOFError when the data stops inside one."""

    def __init__(self, raw: IO[bytes], make: Callable[[], Any]) -> None:
        self._raw, self._make = raw, make
        self._decompressor = make()
        self._inside = False  # bytes of the current stream seen, its end not yet
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                if self._inside:
                    raise EOFError("compressed data ended before the end-of-stream marker")
                return b""
            while chunk:
                self._inside = True
                self._pending += self._decompressor.decompress(chunk)
                if not self._decompressor.eof:
                    break
                chunk = self._decompressor.unused_data  # the next concatenated stream, if any
                self._decompressor, self._inside = self._make(), False
        size = len(self._pending) if size is None or size < 0 else size
        data, self._pending = self._pending[:size], self._pending[size:]
        return data
