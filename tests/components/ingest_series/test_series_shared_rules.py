"""The one series-id rule and the one value-cell rule (seqline.schemas.series), and that ingest
and the forecasting client read the same inputs the same way: a pandas float64 id 1.0 is series
"1" for both (the client sent "1.0" before, so a per-series model scaled it globally)."""

from __future__ import annotations

import decimal
import fractions

import numpy as np
import pytest

from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.records import RowProblem, RowRules
from seqline.schemas import series as rules
from seqline.serving.client.forecast_cli import _csv_cell
from seqline.serving.client.forecasting import StepForecaster, _series_ids

ID_TABLE = [
    (np.float64(1.0), "1"),
    (1.0, "1"),
    (np.float32(7.0), "7"),
    (-3.0, "-3"),
    (1, "1"),
    (np.int64(12), "12"),
    (decimal.Decimal("2.0"), "2"),
    (decimal.Decimal("2.50"), "2.50"),
    (2.5, "2.5"),
    (fractions.Fraction(3, 2), "3/2"),
    ("B ", "B"),
    (" 1.0 ", "1.0"),  # text is kept as written (CSV ids are text), only stripped
    ("nan", "nan"),
    (b" m-7 ", "m-7"),
    (None, None),
    (float("nan"), None),
    (np.float64("nan"), None),
    (decimal.Decimal("NaN"), None),
    ("  ", None),
]


@pytest.mark.parametrize(("cell", "expected"), ID_TABLE)
def test_series_id_rule(cell, expected) -> None:
    assert rules.series_id_text(cell) == expected


AGREEMENT = [np.float64(1.0), 1, "B ", decimal.Decimal("2.0"), float("nan"), 7.0]


def test_ingest_and_the_client_give_the_same_ids() -> None:
    ingest = RowRules(IngestSeriesConfig(source="x.parquet", frequency="1h", series_id_column="m"))
    ingested = [ingest.series_id(cell) for cell in AGREEMENT]
    assert ingested[:4] == ["1", "1", "B", "2"] and ingested[5] == "7"
    assert isinstance(ingested[4], RowProblem) and ingested[4].reason == rec.MISSING_SERIES_ID
    sent = _series_ids(np.array(AGREEMENT, dtype=object), len(AGREEMENT))
    assert sent == [b"1", b"1", b"B", b"2", b"", b"7"]  # NaN: no id, as ingest has none
    # A pandas float64 id column arrives as a float array.
    assert _series_ids(np.array([1.0, 7.0]), 2, required=True) == [b"1", b"7"]
    with pytest.raises(Exception, match="series_id"):  # a NaN id of a per-series model
        _series_ids(np.array([1.0, np.nan]), 2, required=True)


def test_step_forecaster_reads_its_id_with_the_same_rule() -> None:
    sent = []

    def call(signature, inputs):
        sent.append(list(inputs["series_id"]))
        return {"state": np.zeros((1, 2), np.float32)}

    assert StepForecaster(call, 1, np.float64(3.0), takes_series_id=True).series_id == "3"
    assert sent == [[b"3"]]


VALUE_TABLE = [
    ("1.5", 1.5),
    (" -2e3 ", -2000.0),
    (".5", 0.5),
    ("TRUE", 1.0),
    (" false ", 0.0),
    (np.True_, 1.0),
    (decimal.Decimal("100.125"), 100.125),
    (np.float32(1.5), 1.5),
    ("3.4e38", 3.4e38),
    ("1_000", rules.NON_NUMERIC),
    ("١٢", rules.NON_NUMERIC),  # Arabic-Indic digits
    ("1,5", rules.NON_NUMERIC),
    ("yes", rules.NON_NUMERIC),
    (object(), rules.NON_NUMERIC),
    ("nan", rules.NON_FINITE),
    ("-Infinity", rules.NON_FINITE),
    (float("inf"), rules.NON_FINITE),
    ("1e39", rules.OUT_OF_RANGE),
    ("1e400", rules.OUT_OF_RANGE),
    (decimal.Decimal("1e39"), rules.OUT_OF_RANGE),
    (10**400, rules.OUT_OF_RANGE),
]


@pytest.mark.parametrize(("cell", "expected"), VALUE_TABLE)
def test_value_rule_and_the_cli_cell_follow_it(cell, expected) -> None:
    if isinstance(expected, float):
        assert rules.number_value(cell) == expected
        if isinstance(cell, str):
            assert _csv_cell(cell.strip()) == expected
        return
    with pytest.raises(rules.ValueRefused) as refused:
        rules.number_value(cell)
    assert refused.value.reason == expected
    problem = RowRules(IngestSeriesConfig(source="x.csv", frequency="1h")).values([cell])
    assert isinstance(problem, RowProblem) and problem.reason == expected
    if isinstance(cell, str):
        with pytest.raises(rules.ValueRefused):
            _csv_cell(cell.strip())


def test_float32_max_is_numpys() -> None:
    assert float(np.finfo(np.float32).max) == rules.FLOAT32_MAX
    with np.errstate(over="ignore"):
        assert float(np.float32(rules.FLOAT32_OVERFLOW)) == float("inf")
    assert float(np.float32(np.nextafter(rules.FLOAT32_OVERFLOW, 0.0))) == rules.FLOAT32_MAX
