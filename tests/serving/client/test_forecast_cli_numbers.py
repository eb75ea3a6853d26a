"""`seqline forecast --history @file.csv` reads numbers with ingest's rule: text ingest rejects
(1_000, non-ASCII digits) and numbers beyond float32 are refused with the line and the cell,
not read by float() (before: accepted, or 1e39 refused as "NaN or infinity")."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.serving.client.forecast_cli import UsageError, load_rows
from seqline.serving.client.forecasting import MAX_STEPS, ForecastInputError, recursive_forecast


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


class _Stub:
    """A forecaster the CLI gets instead of a SavedModel: L = 3, F = 1, S = 2, y + 1, y + 2."""

    lookback, num_features, num_targets, steps, takes_series_id = 3, 1, 1, 2, False

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, history, series_id=None):
        self.calls += 1
        last = np.asarray(history, np.float32)[:, -1, :1]
        return np.stack([last + 1, last + 2], axis=1)


@pytest.fixture
def stub(monkeypatch, tmp_path):
    from seqline.serving.client import forecast_cli

    model = _Stub()
    monkeypatch.setattr(forecast_cli, "_forecaster", lambda args: model)
    return model


def _forecast(tmp_path, *args: str) -> int:
    from seqline.serving.cli import main

    return main(["forecast", "--saved-model", str(tmp_path), *args])


@pytest.mark.parametrize(
    ("history", "says"),
    [
        ("[[1, 2, 3], [4, 5, 6]]", "expected one series ([L, F] rows, or [L] values when F == 1)"),
        ("[[[1], [2], [3]], [[4], [5], [6]]]", "got 2 series ([2, L, F]); seqline forecast"),
        ('["abc", 2, 3]', "history: expected numbers"),
        ("[[1, 2], 2, 3]", "history: expected numbers"),
    ],
)
def test_forecast_refuses_batches_text_and_ragged_rows_on_one_line(
    stub, tmp_path, capsys, history, says
) -> None:
    assert _forecast(tmp_path, "--history", history, "--steps", "2") == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert stub.calls == 0


def test_forecast_refuses_more_model_calls_than_max_calls(stub, tmp_path, capsys) -> None:
    huge = "100000000000000000000"
    assert _forecast(tmp_path, "--history", "[1, 2, 3]", "--steps", huge) == 2
    err = capsys.readouterr().err
    assert "--steps: expected at most 2,000 steps (--max-calls 1000 calls" in err
    assert "errors compound" in err and "pass --max-calls" not in err and stub.calls == 0
    assert f"At most {MAX_STEPS:,} steps can be forecast" in err  # beyond any --max-calls
    assert _forecast(tmp_path, "--history", "[1, 2, 3]", "--steps", "5", "--max-calls", "2") == 2
    assert "pass --max-calls 3" in capsys.readouterr().err
    assert _forecast(tmp_path, "--history", "[1, 2, 3]", "--steps", "5", "--max-calls", "3") == 0
    assert stub.calls == 3 and '"forecast": [\n    4.0' in capsys.readouterr().out


@pytest.mark.parametrize("max_calls", ["0", "-3"])
def test_max_calls_below_one_is_a_usage_error_naming_the_flag(
    stub, tmp_path, capsys, max_calls
) -> None:
    """--max-calls 0 said "expected at most 0 steps ... pass --max-calls 1"; a negative count
    "at most -2 steps"."""
    args = ("--history", "[1, 2, 3]", "--steps", "1", "--max-calls", max_calls)
    assert _forecast(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert (
        f"--max-calls: expected an integer >= 1 (the most model calls a forecast may take; "
        f"default 1000), got {max_calls}" in err
    )
    assert "--steps" not in err and err.count("\n") == 1 and stub.calls == 0


def test_saved_model_at_a_base_directory_names_the_version_dirs(tmp_path, capsys) -> None:
    from seqline.serving.cli import main

    for version in ("1", "3", "notes"):
        (tmp_path / version).mkdir()
    args = ["forecast", "--saved-model", str(tmp_path), "--history", "[1, 2, 3]", "--steps", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "a model base directory (versions 1, 3): pass a version dir, e.g." in err
    assert str(tmp_path / "3") in err and "Traceback" not in err
    assert main([*args[:2], str(tmp_path / "notes"), *args[3:]]) == 2
    assert "(with saved_model.pb), got" in capsys.readouterr().err


def test_csv_rows_copied_with_their_timestamp_say_to_drop_it(tmp_path) -> None:
    history = tmp_path / "h.csv"
    history.write_text("timestamp,amount\n2019-01-01T00:00:00,200.5\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"got a timestamp; --history takes the value columns"):
        load_rows(f"@{history}", "--history")
    history.write_text("amount,flag\n1,0\n2\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"the same number of cells on every line.*\[1, 2\]"):
        load_rows(f"@{history}", "--history")
