"""`seqline forecast --history @file.csv` reads numbers with ingest's rule: text ingest rejects
(1_000, non-ASCII digits) and numbers beyond float32 are refused with the line and the cell,
not read by float() (before: accepted, or 1e39 refused as "NaN or infinity")."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.serving.client.forecast_cli import UsageError, load_rows
from seqline.serving.client.forecasting import ForecastInputError, recursive_forecast


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("1_000", "rejects as non_numeric"),
        ("١٢", "rejects as non_numeric"),
        ("1e39", "beyond float32's range"),
        ("-1e400", "beyond float32's range"),
        ("nan", "NaN or an infinity"),
    ],
)
def test_csv_history_refuses_what_ingest_refuses_with_line_and_cell(tmp_path, cell, says) -> None:
    history = tmp_path / "h.csv"
    history.write_text(f"demand,holiday\n10.5,true\n{cell},0\n", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        load_rows(f"@{history}", "--history")
    message = str(err.value)
    assert f"line 3: cell {cell!r}: expected a plain number" in message
    assert "within float32's range (|x| <= 3.4028235e+38)" in message and says in message


def test_an_out_of_range_first_line_is_an_error_not_a_header(tmp_path) -> None:
    history = tmp_path / "h.csv"
    history.write_text("1e39\n1\n2\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 1: cell '1e39'.*beyond float32's range"):
        load_rows(f"@{history}", "--history")
    history.write_text("demand\n3.4e38\n1\n", encoding="utf-8")  # within range: read
    assert load_rows(f"@{history}", "--history") == [[3.4e38], [1.0]]


class _Forecaster:
    lookback, num_features, num_targets, takes_series_id = 2, 1, 1, False

    def predict(self, history, series_id=None):
        return np.zeros((len(history), 1), np.float32)


def test_json_history_beyond_float32_says_so() -> None:
    with pytest.raises(ForecastInputError, match="within float32's range"):
        recursive_forecast(_Forecaster(), [1.0, 1e39], 1)
    with pytest.raises(ForecastInputError, match="NaN or infinity"):
        recursive_forecast(_Forecaster(), [1.0, float("nan")], 1)
