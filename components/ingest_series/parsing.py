"""Streaming parsers: one source file -> batches of points per series, and Rejections.

Each parser reads its input incrementally (a CSV line at a time, a Parquet record batch at a
time) so a file of any size is read in bounded memory, and never raises on bad rows: a row it
cannot use becomes a Rejection with a reason code (see records.py) and parsing goes on. Blank
CSV lines are not rows and are ignored. Every other row is exactly one accepted point or one
Rejection, which is what makes `input == accepted + rejected` checkable downstream.
Pure Python + numpy + pyarrow; the Beam DoFn in transforms.py calls these.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.records import (
    PointBatch,
    PointBuffer,
    Rejection,
    RowProblem,
    RowRules,
)
from seqline.pipeline.csv_stream import cr_line_endings_problem, csv_text, read_records
from seqline.pipeline.data_sources import repeated_columns_problem
from seqline.pipeline.errors import DataError
from seqline.pipeline.quarantine import first_undecodable_byte, has_surrogates

Parsed = tuple[str, PointBatch] | Rejection

PARQUET_BATCH_ROWS = 65_536


def parse_csv(
    stream: IO[bytes], source: str, file_index: int, config: IngestSeriesConfig
) -> Iterator[Parsed]:
    """Parses a CSV file with a header row.

    Args:
        stream: the file's bytes (a UTF-8 BOM is ignored; undecodable rows are rejected).
        source: the file's path, recorded in rejections.
        file_index: the file's index in the sorted source list (orders rows across files).
        config: columns, timestamp notation and max_record_bytes.

    Yields Rejections as rows fail and (series id, PointBatch) as batches fill up; position =
    the row's first line number (the header is line 1). The first non-blank record is the
    header; when it lacks a configured column (a file without a header row, or other column
    names) or names a configured column more than once (which copy holds the data cannot be
    told), it and every row of the file are rejected as header_mismatch, each keeping its
    raw text (the pre-run check catches this earlier for local files). Records end at \\n or
    \\r\\n only (a lone \\r outside quotes makes its row malformed_csv); raises DataError for a
    file whose header holds a \\r outside quotes (old-Mac \\r line endings).
    """
    rules = RowRules(config)
    buffer = PointBuffer(file_index, len(rules.columns))
    needed = config.required_columns()
    header_problem: str | None = None
    indices: list[int] | None = None
    width = 0
    series_index = -1
    records = read_records(csv_text(stream), config.max_record_bytes, rec.MAX_RECORD_CHARS)
    for item in records:
        start, row = item.line, item.fields
        if row == []:
            continue  # blank line: not a row
        unreadable: Rejection | None = None
        if item.too_large:
            unreadable = rec.too_large_rejection(
                source, start, item.raw, item.size, config.max_record_bytes
            )
        elif row is None:
            unreadable = Rejection(
                source, start, rec.MALFORMED_CSV, item.error or "malformed CSV",
                rec.raw_text(item.raw),
            )  # fmt: skip
        if indices is None and header_problem is None:  # the first record: the header
            cr_problem = cr_line_endings_problem(item)
            if cr_problem is not None:  # the whole file would be this one record
                raise DataError(f"ingest_series: {source}: {cr_problem}")
            if unreadable is not None:
                header_problem = (
                    f"expected the first row of {source} (line {start}) to be a header with "
                    f"columns {needed}, got a row rejected as {unreadable.reason}; fix the "
                    "file's first row"
                )
                yield unreadable
                continue
            header = [name.strip() for name in row or ()]
            missing = [c for c in needed if c not in header]
            repeated = None if missing else repeated_columns_problem(header, needed)
            if not missing and not repeated:
                indices = [header.index(c) for c in (config.timestamp_column, *config.columns())]
                if config.series_id_column:
                    series_index = header.index(config.series_id_column)
                width = len(header)
                continue
            header_problem = (
                f"expected the first row of {source} to name each configured column once, "
                f"got: {repeated}; none of the file's rows can be read"
                if repeated
                else f"expected the first row of {source} to be a header with columns "
                f"{needed}, got {header} (missing {missing}); the file has no header row or "
                "other column names, so none of its rows can be read: add the header or set "
                "timestamp_column/targets/covariates/series_id_column to its column names"
            )
        if unreadable is not None:
            yield unreadable
            continue
        if indices is None or row is None:
            yield Rejection(
                source, start, rec.HEADER_MISMATCH, str(header_problem), rec.raw_text(item.raw)
            )
            continue
        if len(row) != width:
            yield Rejection(
                source, start, rec.WRONG_COLUMN_COUNT,
                f"expected {width} fields as in the header, got {len(row)}",
                rec.raw_text(item.raw),
            )  # fmt: skip
            continue
        if has_surrogates("".join(row)):
            bad = next(i for i, field in enumerate(row) if has_surrogates(field))
            where = first_undecodable_byte(row[bad])
            yield Rejection(
                source, start, rec.UNDECODABLE_BYTES,
                f"the row is not valid UTF-8 (field {bad + 1}{': ' + where if where else ''}); "
                "re-encode the source as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                rec.raw_text(item.raw),
            )  # fmt: skip
            continue
        point = rules.point(
            row[series_index] if series_index >= 0 else None,
            row[indices[0]],
            [row[i] for i in indices[1:]],
        )
        if isinstance(point, RowProblem):
            yield Rejection(source, start, point.reason, point.message, rec.raw_text(item.raw))
            continue
        yield from buffer.add(point[0], start, point[1], point[2])
    yield from buffer.drain()


def _parquet_timestamp_column(column: Any) -> list[Any]:
    """A Parquet timestamp column as Python values for RowRules: native timestamps become
    datetimes at microsecond precision (ns truncated; timezone kept), dates stay dates, other
    types (strings, epoch numbers) are left as they are."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
        column = pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False)
    return column.to_pylist()


def _text_bytes_per_row(batch: Any) -> Any:
    """Bytes per row of a record batch's string/binary columns (numpy int64 [rows]), or None
    when it has none: the part of a Parquet row that can exceed max_record_bytes (numbers and
    timestamps are a few bytes each)."""
    import numpy as np  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    total = None
    for column in batch.columns:
        kind = column.type
        if not (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
        ):
            continue
        lengths = pc.fill_null(pc.binary_length(column), 0).to_numpy().astype(np.int64)
        total = lengths if total is None else total + lengths
    return total


def parse_parquet(
    handle: IO[bytes], source: str, file_index: int, config: IngestSeriesConfig
) -> Iterator[Parsed]:
    """Parses a Parquet file (a seekable binary handle), one record batch at a time, reading
    only the configured columns. Same outputs as parse_csv; position = 1-based row number.

    Native timestamp / date columns are taken as they are (timezone-aware ones in UTC);
    string timestamp columns follow timestamp_format; numeric ones are epoch_unit numbers.
    """
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        parquet = pq.ParquetFile(handle)
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError for a corrupt file
        raise DataError(
            f"ingest_series: expected a Parquet file at {source}, got one pyarrow cannot open "
            f"({err}); fix or remove the file, or set format: csv"
        ) from err
    names = parquet.schema_arrow.names
    needed = config.required_columns()
    missing = [c for c in needed if c not in names]
    if missing:
        raise DataError(
            f"ingest_series: expected columns {needed} in {source}, got {names} (missing "
            f"{missing}); set timestamp_column/targets/covariates/series_id_column"
        )
    repeated = repeated_columns_problem(names, needed)
    if repeated:
        raise DataError(
            f"ingest_series: expected each configured column once in {source}: {repeated}"
        )
    rules = RowRules(config)
    buffer = PointBuffer(file_index, len(rules.columns))
    position = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=needed):
        series = (
            batch.column(config.series_id_column).to_pylist()
            if config.series_id_column
            else [None] * batch.num_rows
        )
        stamps = _parquet_timestamp_column(batch.column(config.timestamp_column))
        value_columns = [batch.column(c).to_pylist() for c in config.columns()]
        sizes = _text_bytes_per_row(batch)

        def raw_row(i: int, cells: list[Any], stamps: list = stamps, series: list = series) -> str:
            raw = {config.timestamp_column: stamps[i]}
            if config.series_id_column:
                raw[config.series_id_column] = series[i]
            raw.update(zip(config.columns(), cells, strict=True))
            return json.dumps(raw, default=str, allow_nan=True, sort_keys=True)

        for i in range(batch.num_rows):
            position += 1
            cells = [column[i] for column in value_columns]
            if sizes is not None and sizes[i] > config.max_record_bytes:
                yield rec.too_large_rejection(
                    source, position, raw_row(i, cells)[: rec.MAX_RECORD_CHARS], int(sizes[i]),
                    config.max_record_bytes,
                )  # fmt: skip
                continue
            point = rules.point(series[i], stamps[i], cells)
            if isinstance(point, RowProblem):
                record = raw_row(i, cells)
                yield Rejection(source, position, point.reason, point.message, rec.raw_text(record))
                continue
            yield from buffer.add(point[0], position, point[1], point[2])
    yield from buffer.drain()
