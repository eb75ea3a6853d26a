"""The loans example (examples/loans/): its config builds the classic stacked LSTM + Dropout
tutorial's model with the tutorial's parameter count, its generated data has the shape it
claims, and the whole pipeline runs on a small slice of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from seqline.pipeline.config_file import load_pipeline, read_config, settings_from_mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "loans"


def _prepare():
    spec = importlib.util.spec_from_file_location("loans_prepare", EXAMPLE / "prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lstm_params(units: int, inputs: int) -> int:
    """Keras's LSTM: 4 gates, each a kernel [inputs, units], a recurrent kernel [units, units]
    and a bias [units]."""
    return 4 * (units * (units + inputs) + units)


def test_config_reproduces_the_tutorials_parameter_count():
    from seqline.components.train.forecasters import build_forecaster

    pipeline = load_pipeline(EXAMPLE / "pipeline.yaml")
    ingest = pipeline.node("ingest_series").config
    forecaster = pipeline.node("train").config.forecaster
    assert (ingest.lookback, ingest.horizon, ingest.targets) == (60, 1, ("amount",))
    model = build_forecaster(forecaster, ingest.lookback, 1, ingest.horizon)

    expected, inputs = 0, 1
    for units in forecaster.units:
        expected += _lstm_params(units, inputs)
        inputs = units
    expected += inputs + 1  # Dense(1)
    assert model.count_params() == expected == 71_051
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["LSTM", "Dropout"] * 4 + ["Dense", "Reshape"]
    assert {layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"} == {0.2}


def test_generated_book_has_a_weekly_cycle_and_a_month_end_rush(tmp_path):
    prepare = _prepare()
    dates, amounts = prepare.loan_amounts(730)
    weekday = (dates.astype(np.int64) + 3) % 7
    assert str(dates[0]) == "2019-01-01" and weekday[0] == 1  # a Tuesday
    assert amounts[weekday >= 5].mean() < 0.5 * amounts[weekday < 5].mean()
    month_end = (dates + 2).astype("datetime64[M]") != dates.astype("datetime64[M]")
    weekdays = weekday < 5
    assert amounts[month_end & weekdays].mean() > 1.2 * amounts[~month_end & weekdays].mean()
    path = prepare.write_loans(tmp_path / "a.csv", 120)
    again = prepare.write_loans(tmp_path / "b.csv", 120)
    assert path.read_bytes() == again.read_bytes()
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,amount" and len(lines) == 121
    assert lines[1].startswith("2019-01-01T00:00:00,")


@pytest.mark.slow
def test_the_pipeline_runs_on_a_small_book_and_exports_a_streaming_forecaster(tmp_path):
    """700 days (eval and test need 61 each) and one epoch: everything the example does, on
    data small enough for CI."""
    import keras

    from seqline.pipeline.config_file import build_pipeline
    from seqline.pipeline.runner import run_pipeline

    _prepare().write_loans(tmp_path / "data" / "loans.csv", 700)
    data = read_config(EXAMPLE / "pipeline.yaml")
    data["root"] = str(tmp_path / "root")
    components = data["components"]
    components["train"]["epochs"] = 1
    components["push"]["serving_root"] = str(tmp_path / "serving")
    pipeline = build_pipeline(settings_from_mapping(data, base_dir=str(tmp_path)))

    result = run_pipeline(pipeline)
    assert result.status == "SUCCEEDED", [(n.node_id, n.status, n.error) for n in result.nodes]
    assert [n.status for n in result.nodes] == ["COMPLETE"] * len(result.nodes)
    model = result.node("train").outputs["model"]
    assert model.properties["streaming"] is True
    assert set(model.properties["signatures"]) >= {"forecast", "step_start", "step"}
    trained = keras.saving.load_model(model.path("keras", "model.keras"))
    assert trained.count_params() == 71_051
    # Evaluated on the test split's windows against the weekly seasonal naive forecast.
    evaluate = result.node("evaluate").summary
    assert evaluate["windows"] > 0 and evaluate["seasonal_naive_mae"] > 0
    assert isinstance(evaluate["blessed"], bool)
