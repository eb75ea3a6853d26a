"""pipeline/compressed_input.py: every compressed format Beam's readers name by suffix reads
back whole, concatenated streams included; a truncated, corrupt or mislabelled file raises
DataError naming it instead of ending early."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from seqline.pipeline.compressed_input import compression_of, decompressed, with_compression
from seqline.pipeline.errors import DataError

TEXT = b"".join(b"line %d of a file that compresses well\n" % i for i in range(20_000))


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data)


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "a.csv.gz": gzip.compress,
    "a.CSV.GZ": gzip.compress,  # suffixes are case-insensitive, as in Beam
    "a.jsonl.bz2": bz2.compress,
    "a.csv.xz": lzma.compress,
    "a.csv.deflate": _deflate,
    "a.csv.zst": _zstd,
}


def _read(path: Path) -> bytes:
    with decompressed(open(path, "rb"), str(path)) as stream:
        return stream.read()


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_whole_and_concatenated_streams_read_back(tmp_path: Path, name: str) -> None:
    compress = COMPRESSORS[name]
    path = tmp_path / name
    path.write_bytes(compress(TEXT))
    assert _read(path) == TEXT
    # Two streams one after the other (what `cat a.gz b.gz` or an appending writer makes).
    path.write_bytes(compress(TEXT[:1000]) + compress(TEXT[1000:]))
    assert _read(path) == TEXT


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_a_truncated_file_raises_instead_of_ending_early(tmp_path: Path, name: str) -> None:
    data = COMPRESSORS[name](TEXT)
    path = tmp_path / name
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError) as error:
        _read(path)
    message = str(error.value)
    assert str(path) in message and "Replace the file with a complete copy" in message
    assert "end-of-stream marker" in message or "not valid" in message


@pytest.mark.parametrize("name", ["a.csv.gz", "a.jsonl.bz2", "a.csv.xz", "a.csv.zst"])
def test_a_plain_file_named_as_compressed_raises_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"text,label\ngood,pos\n")
    with pytest.raises(DataError, match="not valid .* data") as error:
        _read(path)
    assert str(path) in str(error.value) and "rename it if it is not compressed" in str(error.value)


def test_gzip_damage_inside_the_stream_is_caught_by_its_crc(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(TEXT))
    data[-6] ^= 0xFF  # inside the CRC32 trailer
    path = tmp_path / "a.csv.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="not valid gzip data"):
        _read(path)


def test_plain_files_pass_through_and_closing_closes_the_file(tmp_path: Path) -> None:
    assert compression_of("data/part-0.csv") is None
    assert compression_of("gs://bucket/part-0.CSV.Bz2") == "bzip2"
    raw = io.BytesIO(TEXT)
    assert decompressed(raw, "part-0.csv") is raw
    raw = io.BytesIO(gzip.compress(TEXT))
    stream = decompressed(raw, "part-0.csv.gz")
    assert stream.readline() == b"line 0 of a file that compresses well\n"
    stream.close()
    assert raw.closed


def test_with_compression_lists_every_suffix_the_readers_decompress() -> None:
    # Folder sources build their file lists from it: a suffix added here is read there too.
    names = with_compression((".csv",))
    assert names[0] == ".csv" and len(names) == len(set(names))
    assert {compression_of("a" + n) for n in names[1:]} == {
        "gzip", "bzip2", "lzma", "deflate", "zstd"
    }  # fmt: skip
    for suffix in (".gz", ".bz2", ".xz", ".lzma", ".deflate", ".zst", ".zstd"):
        assert ".csv" + suffix in names


@pytest.mark.parametrize("name", ["a.csv.gz", "a.csv.zst", "a.csv.xz", "a.csv.bz2", "a.deflate"])
def test_an_empty_file_is_refused_in_every_format_but_an_empty_stream_reads_as_empty(
    name: str,
) -> None:
    # gzip and zstd used to read a 0-byte file (a copy that failed at once) as no records.
    with pytest.raises(DataError, match=rf"{name}: .*the file is empty \(0 bytes\)"):
        decompressed(io.BytesIO(b""), name).read()
    compress = {
        "a.csv.gz": gzip.compress,
        "a.csv.zst": _zstd,
        "a.csv.xz": lzma.compress,
        "a.csv.bz2": bz2.compress,
        "a.deflate": _deflate,
    }[name]
    assert decompressed(io.BytesIO(compress(b"")), name).read() == b""
