"""What one raw row becomes: a point of a series (batched), or a Rejection with its reason.

Reason codes (the `reason` of rejected records and the keys of `by_reason`):

    malformed_csv        a CSV row that breaks RFC 4180 quoting (parsing.py)
    header_mismatch      a CSV file whose first row lacks a configured column (no header
                         row, or other names): that row and every row of the file (parsing.py)
    record_too_large     a CSV row, or the text cells of a Parquet row, over max_record_bytes
                         (pipeline/record_size.py)
    wrong_column_count   a CSV row with another number of fields than the header (parsing.py)
    undecodable_bytes    a CSV row holding bytes that are not UTF-8
    missing_series_id    series_id_column configured, the cell is empty / null / NaN (an id
                         column stored as float, as pandas writes integer ids with a gap;
                         its integral values read as integers: 1.0 is series "1"; text ids
                         are kept as written, stripped: schemas.series.series_id_text)
    nul_character        the series id holds a NUL character (\\x00): almost always a damaged
                         file, and it would make a series of its own (a NUL in a timestamp is
                         bad_timestamp, in a value non_numeric)
    missing_timestamp    the timestamp cell is empty / null
    bad_timestamp        the timestamp does not parse in the configured notation
    missing_value        a target or covariate cell is empty / null
    non_numeric          a target or covariate cell is not a number nor a boolean (booleans:
                         true/false in any letter case, or a Parquet bool, read as 1.0/0.0;
                         Parquet DECIMAL and other real numbers read as float)
    non_finite           a target or covariate is NaN or +-Inf (spelled nan / inf)
    out_of_range         a target or covariate beyond float32's range (|x| > 3.4028235e38,
                         so far that float32 rounds it to inf): windows, the model and serving
                         hold values as float32; a number written out beyond float64 (1e400)
                         is out of range too, not non-finite
    off_grid_timestamp   the timestamp is not on the series' step grid (off_grid "reject";
                         regularize.py)
    duplicate_timestamp  a later row with the timestamp (grid step) of an earlier row of the
                         same series; the first one in input order is kept (regularize.py)

A rejected row keeps its raw text ("record": the CSV line(s), or a JSON object of the Parquet
row's configured cells) and where it was ("source" file, 1-based "position": the CSV line, or
the Parquet row number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.timestamps import (
    TimestampError,
    datetime_to_micros,
    epoch_to_micros,
    parse_timestamp,
)
from seqline.pipeline.quarantine import NUL_CHARACTER as NUL_CHARACTER
from seqline.pipeline.quarantine import Rejection as Rejection  # the rejected-row shape
from seqline.pipeline.quarantine import nul_problem, record_text
from seqline.pipeline.record_size import (
    RECORD_TOO_LARGE,
    excerpt,
    too_large_message,
    truncated_note,
)

# Boolean spellings, the plain-number rule, the float32 range and the series-id rule: one
# definition in schemas/, which `seqline forecast` and the forecasting clients (serving/, no
# components) read cells and ids with too.
from seqline.schemas.series import BOOLEAN_TEXT as BOOLEAN_TEXT
from seqline.schemas.series import FLOAT32_MAX as FLOAT32_MAX
from seqline.schemas.series import FLOAT32_OVERFLOW as FLOAT32_OVERFLOW
from seqline.schemas.series import NON_FINITE as NON_FINITE
from seqline.schemas.series import NON_NUMERIC as NON_NUMERIC
from seqline.schemas.series import OUT_OF_RANGE as OUT_OF_RANGE
from seqline.schemas.series import ValueRefused, number_value, series_id_text

MALFORMED_CSV = "malformed_csv"
HEADER_MISMATCH = "header_mismatch"
WRONG_COLUMN_COUNT = "wrong_column_count"
UNDECODABLE_BYTES = "undecodable_bytes"
MISSING_SERIES_ID = "missing_series_id"
MISSING_TIMESTAMP = "missing_timestamp"
BAD_TIMESTAMP = "bad_timestamp"
MISSING_VALUE = "missing_value"
OFF_GRID_TIMESTAMP = "off_grid_timestamp"
DUPLICATE_TIMESTAMP = "duplicate_timestamp"

MAX_RECORD_CHARS = 2_000


class PointBatch(NamedTuple):
    """Accepted rows of one series from one file (what the parser emits, keyed by series id).

    Attributes:
        file_index: index of the source file in the sorted file list (input order across files).
        positions: int64 [n], 1-based line / row numbers (input order within the file).
        timestamps: int64 [n], epoch microseconds, in file order (not sorted).
        values: float64 [n, k], the config's columns() (targets, then covariates).

    A batch holds thousands of points as three numpy arrays, so the shuffle into GroupByKey
    moves a few large elements rather than a million tiny ones, and a series of a million
    points costs ~8 * (2 + k) MB once grouped.
    """

    file_index: int
    positions: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray


def raw_text(raw: str) -> str:
    """The `record` of a rejection: the raw text, `repr` of its bytes when it holds undecodable
    bytes (decoded with surrogateescape), cut to MAX_RECORD_CHARS."""
    return record_text(raw, MAX_RECORD_CHARS)


def too_large_rejection(
    source: str, position: int, head: str | bytes, size: int, limit: int
) -> Rejection:
    """The one rejection of a row over max_record_bytes (`limit`): `head` is its beginning
    (at most MAX_RECORD_CHARS are kept), `size` its full size in bytes."""
    return Rejection(
        source,
        position,
        RECORD_TOO_LARGE,
        too_large_message(size, limit),
        record_text(excerpt(head, MAX_RECORD_CHARS), MAX_RECORD_CHARS) + truncated_note(size),
    )


class RowProblem(NamedTuple):
    """Why a row is not a point: a reason code and a message."""

    reason: str
    message: str


class RowRules:
    """Turns one row's cells into (series id, epoch micros, values) or a RowProblem.

    Cells are what the source gives: str from CSV; str, int, float, Decimal, bool, datetime,
    date or None from Parquet. Checked in this order: series id, timestamp, then each value
    column.
    """

    def __init__(self, config: IngestSeriesConfig) -> None:
        self.columns = config.columns()
        self.fmt = config.timestamp_format
        self.unit = config.epoch_unit
        self.has_series_id = config.series_id_column is not None

    def series_id(self, cell: Any) -> str | RowProblem:
        if not self.has_series_id:
            return ""
        # schemas.series.series_id_text: text stripped; an integral float or Decimal (pandas
        # stores integer ids with a gap as float64) is its integer, 1.0 is series "1"; a NaN
        # is a missing id, not a series "nan".
        text = series_id_text(cell)
        if text is None:
            return RowProblem(
                MISSING_SERIES_ID, f"the series id cell is empty, null or NaN ({cell!r})"
            )
        problem = nul_problem("the series id", text)
        if problem:
            return RowProblem(NUL_CHARACTER, problem)
        return text

    def timestamp(self, cell: Any) -> int | RowProblem:
        try:
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                return RowProblem(MISSING_TIMESTAMP, "the timestamp cell is empty")
            if isinstance(cell, str):
                return parse_timestamp(cell.strip(), self.fmt, self.unit)
            if isinstance(cell, dt.datetime):
                return datetime_to_micros(cell)
            if isinstance(cell, dt.date):
                return datetime_to_micros(dt.datetime(cell.year, cell.month, cell.day))
            if isinstance(cell, int | float) and not isinstance(cell, bool):
                if self.fmt == "iso":
                    raise TimestampError(f"expected an ISO-8601 string, got the number {cell!r}")
                return epoch_to_micros(cell, self.unit)
            raise TimestampError(f"expected a timestamp, got {type(cell).__name__} {cell!r}")
        except TimestampError as err:
            return RowProblem(BAD_TIMESTAMP, f"timestamp {cell!r}: {err}")

    def values(self, cells: Sequence[Any]) -> tuple[float, ...] | RowProblem:
        out = []
        for column, cell in zip(self.columns, cells, strict=True):
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                return RowProblem(MISSING_VALUE, f"column {column!r} is empty")
            try:  # schemas.series.number_value: booleans, plain numbers, float32 range
                value = number_value(cell)
            except ValueRefused as refused:
                if refused.reason == OUT_OF_RANGE:
                    return RowProblem(OUT_OF_RANGE, _out_of_range(column, cell))
                if refused.reason == NON_FINITE:
                    return RowProblem(
                        NON_FINITE, f"column {column!r} is {cell!r} (NaN or infinite)"
                    )
                return RowProblem(NON_NUMERIC, _non_numeric(column, cell))
            out.append(value)
        return tuple(out)

    def point(
        self, series_cell: Any, timestamp_cell: Any, value_cells: Sequence[Any]
    ) -> tuple[str, int, tuple[float, ...]] | RowProblem:
        """(series id, epoch micros, values) of a row, or the first RowProblem found."""
        series_id = self.series_id(series_cell)
        if isinstance(series_id, RowProblem):
            return series_id
        micros = self.timestamp(timestamp_cell)
        if isinstance(micros, RowProblem):
            return micros
        values = self.values(value_cells)
        if isinstance(values, RowProblem):
            return values
        return series_id, micros, values


def _out_of_range(column: str, cell: Any) -> str:
    """The message of an out_of_range rejection: what was expected, what came, how to fix."""
    return (
        f"column {column!r} is {cell!r}: expected |value| <= {FLOAT32_MAX:.8g}, the largest "
        "float32 (windows, the model and serving hold values as float32, where this is "
        "infinite); rescale the column in the source (e.g. divide by 1e30)"
    )


def _non_numeric(column: str, cell: Any) -> str:
    """The message of a non_numeric rejection: what was expected, what came, how to fix."""
    return (
        f"column {column!r}: expected a number or a boolean (true/false, 0/1), got {cell!r}; "
        "fix the source or leave the column out of targets/covariates"
    )


class PointBuffer:
    """Collects accepted points per series and hands them out as PointBatch.

    A series' buffer is emitted when it reaches `batch_rows`; all buffers are emitted when
    together they hold `max_rows` (so many small series cannot grow it without bound), and at
    the end of the file (`drain`).
    """

    def __init__(
        self, file_index: int, width: int, batch_rows: int = 16_384, max_rows: int = 200_000
    ):
        self._file_index = file_index
        self._width = width
        self._batch_rows = batch_rows
        self._max_rows = max_rows
        self._rows = 0
        self._buffers: dict[str, tuple[list[int], list[int], list[float]]] = {}

    def add(
        self, series_id: str, position: int, micros: int, values: tuple[float, ...]
    ) -> list[tuple[str, PointBatch]]:
        """Adds a point; returns the batches that became due (usually none)."""
        buffer = self._buffers.get(series_id)
        if buffer is None:
            buffer = self._buffers[series_id] = ([], [], [])
        buffer[0].append(position)
        buffer[1].append(micros)
        buffer[2].extend(values)
        self._rows += 1
        if self._rows >= self._max_rows:
            return self.drain()
        if len(buffer[0]) >= self._batch_rows:
            self._rows -= len(buffer[0])
            del self._buffers[series_id]
            return [(series_id, self._batch(buffer))]
        return []

    def drain(self) -> list[tuple[str, PointBatch]]:
        """Every buffered point as batches (one per series); empties the buffer."""
        out = [(series_id, self._batch(buffer)) for series_id, buffer in self._buffers.items()]
        self._buffers.clear()
        self._rows = 0
        return out

    def _batch(self, buffer: tuple[list[int], list[int], list[float]]) -> PointBatch:
        positions, micros, values = buffer
        return PointBatch(
            self._file_index,
            np.asarray(positions, dtype=np.int64),
            np.asarray(micros, dtype=np.int64),
            np.asarray(values, dtype=np.float64).reshape(len(positions), self._width),
        )
