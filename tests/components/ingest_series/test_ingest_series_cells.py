"""What a cell becomes: Parquet DECIMAL values are numbers, a float series-id column (pandas'
integer ids with a gap) gives ids "1" and a NaN id is a missing id, and a number written beyond
float64 is out of range rather than non-finite."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import io

import numpy as np

from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.parsing import parse_parquet
from seqline.components.ingest_series.records import PointBatch, Rejection, RowProblem, RowRules


def test_decimal_and_other_real_values_read_as_float() -> None:
    rules = RowRules(IngestSeriesConfig(source="x.parquet", frequency="1h", covariates=("c",)))
    assert rules.values([decimal.Decimal("100.125"), fractions.Fraction(1, 4)]) == (100.125, 0.25)
    assert rules.values([np.float32(1.5), np.int64(3)]) == (1.5, 3.0)
    # The float32 range and finiteness checks still apply to them.
    problem = rules.values([decimal.Decimal("1e39"), 0])
    assert isinstance(problem, RowProblem) and problem.reason == rec.OUT_OF_RANGE
    problem = rules.values([decimal.Decimal("NaN"), 0])
    assert isinstance(problem, RowProblem) and problem.reason == rec.NON_FINITE
    problem = rules.values([object(), 0])
    assert isinstance(problem, RowProblem) and problem.reason == rec.NON_NUMERIC


def test_a_number_beyond_float64_is_out_of_range_and_spelled_infinity_non_finite() -> None:
    rules = RowRules(IngestSeriesConfig(source="x.csv", frequency="1h"))
    for cell in ("1e400", "-1E400", decimal.Decimal("1e400"), 10**400):
        problem = rules.values([cell])
        assert isinstance(problem, RowProblem) and problem.reason == rec.OUT_OF_RANGE, cell
        assert "expected |value| <=" in problem.message
    for cell in ("inf", "-Infinity", "nan", float("inf")):
        problem = rules.values([cell])
        assert isinstance(problem, RowProblem) and problem.reason == rec.NON_FINITE, cell


def test_float_series_ids_format_as_integers_and_nan_is_missing() -> None:
    rules = RowRules(IngestSeriesConfig(source="x.parquet", frequency="1h", series_id_column="m"))
    assert rules.series_id(1.0) == "1"
    assert rules.series_id(np.float64(-7.0)) == "-7"
    assert rules.series_id(2.5) == "2.5"
    assert rules.series_id(3) == "3"
    assert rules.series_id(" B ") == "B"
    for cell in (float("nan"), np.float64("nan"), None, " "):
        problem = rules.series_id(cell)
        assert isinstance(problem, RowProblem) and problem.reason == rec.MISSING_SERIES_ID


def test_parquet_decimal_values_and_float_ids_parse_into_points() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 6
    stamps = [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in range(n)]
    ids = [1.0] * n
    ids[2] = float("nan")
    table = pa.table(
        {
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "meter": pa.array(ids, pa.float64()),
            "kwh": pa.array(
                [decimal.Decimal(f"{100 + i}.125") for i in range(n)], pa.decimal128(10, 3)
            ),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    buffer.seek(0)
    config = IngestSeriesConfig(
        source="d.parquet", format="parquet", frequency="1h", series_id_column="meter",
        targets=("kwh",),
    )  # fmt: skip
    parsed = list(parse_parquet(buffer, "d.parquet", 0, config))
    rejections = [p for p in parsed if isinstance(p, Rejection)]
    batches = [p for p in parsed if not isinstance(p, Rejection)]
    assert [(r.position, r.reason) for r in rejections] == [(3, rec.MISSING_SERIES_ID)]
    assert [key for key, _ in batches] == ["1"]
    batch: PointBatch = batches[0][1]
    np.testing.assert_array_equal(batch.values[:, 0], [100.125, 101.125, 103.125, 104.125, 105.125])


def test_a_series_id_holding_a_nul_is_rejected_and_nul_values_and_stamps_already_are() -> None:
    from seqline.components.ingest_series.parsing import parse_csv

    config = IngestSeriesConfig(source="x.csv", frequency="1h", series_id_column="m")
    rules = RowRules(config)
    for cell in ("a\x00", "\x00", b"a\x00b"):
        problem = rules.series_id(cell)
        assert isinstance(problem, RowProblem) and problem.reason == rec.NUL_CHARACTER, cell
        assert "series id without NUL characters" in problem.message
    data = (
        b"timestamp,m,value\n"
        b"2000-01-01T00:00:00,a,1\n"
        b"2000-01-01T01:00:00,a\x00,2\n"  # would have been a series "a\x00" of its own
        b"2000-01-01T02:00:00,a,3\x00\n"
        b"2000-01-01T03:00:00\x00,a,4\n"
        b"2000-01-01T04:00:00,a,5\n"
    )
    parsed = list(parse_csv(io.BytesIO(data), "x.csv", 0, config))
    rejections = [p for p in parsed if isinstance(p, Rejection)]
    assert [(r.position, r.reason) for r in rejections] == [
        (3, rec.NUL_CHARACTER),
        (4, rec.NON_NUMERIC),
        (5, rec.BAD_TIMESTAMP),
    ]
    batches = [p for p in parsed if not isinstance(p, Rejection)]
    assert [key for key, _ in batches] == ["a"]  # input = accepted (2) + rejected (3)
    np.testing.assert_array_equal(batches[0][1].values[:, 0], [1.0, 5.0])
