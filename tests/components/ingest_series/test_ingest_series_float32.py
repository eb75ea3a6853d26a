"""Values that float32 cannot hold (windows, the model and serving are float32): beyond its
range they are rejected rows; a series whose values float32 rounds away (a counter at 1e12
moving by +-1000) fails ingest naming it and the fix, instead of training on a constant."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.counts import float32_loss_error
from seqline.components.ingest_series.records import RowProblem, RowRules
from seqline.components.ingest_series.windowing import float32_losses
from seqline.pipeline.errors import DataError
from tests.components.ingest_series.helpers import read_rejections, read_windows, run_component

HOUR_S = 3600
OVERFLOW = rec.FLOAT32_OVERFLOW  # the smallest magnitude float32 rounds to inf
T0_S = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())


def counter(n: int = 200) -> np.ndarray:
    """The probe's counter: 1e12 plus a +-1000 daily season, 200 distinct values."""
    return 1e12 + np.round(1000 * np.sin(2 * np.pi * np.arange(n) / 24) + np.arange(n) * 1e-3, 3)


def write_csv(path: Path, values: list[str], series: str | None = None) -> str:
    header = "timestamp,series,value" if series else "timestamp,value"
    lines = [header]
    for h, value in enumerate(values):
        stamp = dt.datetime.fromtimestamp(T0_S + h * HOUR_S, dt.UTC)
        lines.append(f"{stamp:%Y-%m-%dT%H:%M:%S},{series + ',' if series else ''}{value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_values_beyond_float32_are_rejected_with_a_reason() -> None:
    rules = RowRules(IngestSeriesConfig(source="x.csv", frequency="1h"))
    for cell in ("1e39", "-1e39", 3.5e38):
        problem = rules.values([cell])
        assert isinstance(problem, RowProblem) and problem.reason == rec.OUT_OF_RANGE, cell
        assert "expected |value| <= 3.4028235e+38" in problem.message
        assert "rescale the column in the source" in problem.message
    assert rules.values(["3.4e38"]) == (3.4e38,)
    # Just above the largest float32, but rounding to it rather than to inf: accepted.
    for cell in (math.nextafter(rec.FLOAT32_MAX, math.inf), math.nextafter(OVERFLOW, 0.0)):
        assert rules.values([repr(cell)]) == (cell,)
    for cell in (OVERFLOW, -OVERFLOW):
        problem = rules.values([repr(cell)])
        assert isinstance(problem, RowProblem) and problem.reason == rec.OUT_OF_RANGE
    with np.errstate(over="ignore"):
        assert np.isinf(np.float32(OVERFLOW))
    assert np.isfinite(np.float32(math.nextafter(OVERFLOW, 0.0)))
    assert rules.values(["-1e12"]) == (-1e12,)


def test_float32_losses_flag_a_counter_and_nothing_ordinary() -> None:
    values = np.stack(
        [counter(), 10 + np.sin(np.arange(200.0)), np.full(200, 1e12), 1e8 + np.arange(200.0) * 50],
        axis=1,
    )
    (loss,) = float32_losses(["count", "load", "constant", "meter"], values)
    assert loss.column == "count" and loss.distinct == 200 and loss.distinct_float32 <= 2
    assert loss.max_error > 900 and loss.relative_error > 0.4
    error = float32_loss_error(
        [
            {
                "series": "m1",
                **{
                    k: getattr(loss, k)
                    for k in ("column", "low", "high", "max_error", "distinct", "distinct_float32")
                },
            }
        ]  # fmt: skip
    )
    assert error is not None
    assert "series 'm1' column 'count' (values 999999999000" in str(error)
    assert "200 distinct values become" in str(error)
    assert "Subtract an offset in the source (e.g. count - 999999999000" in str(error)
    assert float32_loss_error([]) is None


@pytest.mark.slow  # a Beam run: ~8 s on 2 cores
def test_a_counter_that_float32_cannot_hold_fails_ingest(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "data" / "counter.csv", [f"{v:.3f}" for v in counter()])
    config = IngestSeriesConfig(source=source, frequency="1h", lookback=12, horizon=3)
    with pytest.raises(DataError) as error:
        run_component(tmp_path, config)
    message = str(error.value)
    assert "expected every target and covariate to survive float32" in message
    assert "the series column 'value' (values 999999999000" in message
    assert "200 distinct values become 1" in message
    assert "Subtract an offset in the source (e.g. value - 999999999000" in message


@pytest.mark.slow
def test_rows_beyond_float32_are_quarantined_and_the_rest_windowed(tmp_path: Path) -> None:
    values = [f"{10 + (h % 7)}.5" for h in range(100)]
    values[50] = "1e39"
    values[60] = "-2e39"
    source = write_csv(tmp_path / "data" / "s.csv", values)
    config = IngestSeriesConfig(
        source=source, frequency="1h", lookback=8, horizon=2, splits=("train",),
        split_fractions=(1.0,), max_gap_steps=1,
    )  # fmt: skip
    summary, examples, rejected = run_component(tmp_path, config)
    assert summary["accepted"] == 98 and summary["rejected"] == 2
    assert rejected.properties["by_reason"] == {rec.OUT_OF_RANGE: 2}
    rows = read_rejections(rejected.uri)
    assert [(r["position"], r["reason"]) for r in rows] == [
        (52, "out_of_range"),
        (62, "out_of_range"),
    ]
    assert "'1e39'" in rows[0]["message"]
    windows = read_windows(examples.uri, "train", config)
    assert windows and max(float(np.abs(w["history/value"]).max()) for w in windows) < 20
