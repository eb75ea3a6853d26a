"""pipeline/data_sources.py: matching source files, their fingerprint, header reads."""

from __future__ import annotations

import gzip
import os

import pytest

from seqline.pipeline import data_sources
from seqline.pipeline.errors import ConfigError


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "b.csv").write_text("x\n1\n")
    (tmp_path / "a.CSV").write_text("x\n2\n")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(b"x\n3\n"))
    (tmp_path / ".hidden.csv").write_text("x\n")
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / "sub.csv").mkdir()
    return tmp_path


def test_match_files_of_a_folder_keeps_the_extensions_sorted_skipping_hidden_and_dirs(
    folder,
) -> None:
    files = data_sources.match_files(str(folder), (".csv", ".csv.gz"))
    assert [os.path.basename(f) for f in files] == ["a.CSV", "b.csv", "c.csv.gz"]


def test_match_files_of_a_glob_a_file_and_nothing(folder) -> None:
    globbed = data_sources.match_files(str(folder / "*.csv*"), (".parquet",))
    assert [os.path.basename(f) for f in globbed] == ["b.csv", "c.csv.gz"]  # dirs dropped
    assert data_sources.match_files(str(folder / "notes.txt"), (".csv",)) == [
        str(folder / "notes.txt")
    ]
    assert data_sources.match_files(str(folder / "missing.csv"), (".csv",)) == []
    assert data_sources.match_files(str(folder / "*.json"), (".json",)) == []


def test_files_fingerprint_changes_with_size_mtime_and_the_file_list(folder) -> None:
    files = data_sources.match_files(str(folder), (".csv",))
    first = data_sources.files_fingerprint(files)
    assert first == data_sources.files_fingerprint(files)
    assert first != data_sources.files_fingerprint(files[:1])
    (folder / "b.csv").write_text("x\n1\n22\n")
    assert data_sources.files_fingerprint(files) != first
    stat = os.stat(folder / "a.CSV")
    os.utime(folder / "a.CSV", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert data_sources.file_stat(str(folder / "a.CSV"))[1] == stat.st_mtime_ns + 1_000_000_000
    touched = data_sources.files_fingerprint(files)
    assert touched not in (first, data_sources.files_fingerprint(files[:1]))


def test_new_content_of_the_same_size_under_an_old_mtime_is_a_new_fingerprint(folder) -> None:
    """rsync -t / tar x write new content and restore the old mtime: with path, size and
    mtime only, a flipped label column was a full-pipeline cache hit."""
    path = folder / "b.csv"
    before = os.stat(path)
    first = data_sources.files_fingerprint([str(path)])
    replacement = folder / ".b.csv.tmp"
    replacement.write_text("x\n9\n")  # same size
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)  # what rsync does: a new file renamed over the old one
    assert data_sources.file_stat(str(path)) == (before.st_size, before.st_mtime_ns)
    assert data_sources.files_fingerprint([str(path)]) != first


def test_read_csv_header_strips_names_ignores_bom_and_reads_gzip(tmp_path) -> None:
    plain = tmp_path / "a.csv"
    plain.write_bytes(b"\xef\xbb\xbf text , label\nx,y\n")
    packed = tmp_path / "b.csv.gz"
    packed.write_bytes(gzip.compress(b"ts,value\n1,2\n"))
    empty = tmp_path / "c.csv"
    empty.write_bytes(b"")
    assert data_sources.read_csv_header(str(plain)) == ["text", "label"]
    assert data_sources.read_csv_header(str(packed)) == ["ts", "value"]
    assert data_sources.read_csv_header(str(empty)) == []


def test_read_csv_header_skips_leading_blank_lines_and_reads_a_quoted_header(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b'\r\n\n"te,xt",label\nx,y\n')
    assert data_sources.read_csv_header(str(path)) == ["te,xt", "label"]


@pytest.mark.parametrize(
    ("first", "problem"),
    [(b'"a"x,b\n', "unparseable CSV"), (b"a," + b"x" * 300 + b"\n", "over max_record_bytes")],
)
def test_read_csv_header_says_how_to_fix_an_unreadable_first_record(
    tmp_path, first: bytes, problem: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(first + b"x,y\n")
    with pytest.raises(ConfigError, match=f"start with a CSV header row, got .*{problem}"):
        data_sources.read_csv_header(str(bad), max_record_bytes=200)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_named_as_such(tmp_path, encoding: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("text,label\nhello,pos\n".encode(encoding))
    with pytest.raises(ConfigError, match="looks like UTF-16 .*iconv -f UTF-16 -t UTF-8"):
        data_sources.read_csv_header(str(path))


def test_a_damaged_compressed_file_is_a_config_error_before_the_run(tmp_path) -> None:
    path = tmp_path / "r.csv.gz"
    path.write_bytes(b"text,label\nhello,pos\n")  # not gzip
    with pytest.raises(ConfigError, match=r"r\.csv\.gz: expected a complete gzip file"):
        data_sources.read_csv_header(str(path))
