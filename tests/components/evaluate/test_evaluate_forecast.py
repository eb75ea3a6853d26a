"""Evaluating forecasters: metrics against independent loop-based references (1e-6), naive
baselines, the forecast config, and the evaluate component on a hand-built forecaster
SavedModel whose forecasts are known exactly."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from seqline.components.evaluate.forecast_config import EvaluateSeriesConfig
from seqline.components.evaluate.forecast_evaluation import blessing_checks
from seqline.components.evaluate.forecast_metrics import (
    forecast_metrics,
    metrics_by_step,
    moving_average_forecast,
    naive_forecasts,
)
from seqline.pipeline.errors import ConfigError

RNG = np.random.default_rng(7)


def reference(actual, forecast, history, m=1):
    """Plain-loop MAE, RMSE, MAPE (zeros left out), sMAPE and MASE, written independently."""
    n, h = len(actual), len(actual[0])
    abs_err, sq_err, ape, sape = [], [], [], []
    for i in range(n):
        for j in range(h):
            a, f = float(actual[i][j]), float(forecast[i][j])
            abs_err.append(abs(f - a))
            sq_err.append((f - a) ** 2)
            if a != 0:
                ape.append(abs(f - a) / abs(a))
            sape.append(0.0 if a == 0 and f == 0 else 2 * abs(f - a) / (abs(a) + abs(f)))
    naive = [abs(float(row[t]) - float(row[t - m])) for row in history for t in range(m, len(row))]
    mae = sum(abs_err) / len(abs_err)
    return {
        "mae": mae,
        "rmse": math.sqrt(sum(sq_err) / len(sq_err)),
        "mape": 100 * sum(ape) / len(ape),
        "smape": 100 * sum(sape) / len(sape),
        "mase": mae / (sum(naive) / len(naive)),
    }


@pytest.mark.parametrize("m", [1, 3])
def test_metrics_match_the_loop_reference(m):
    history = RNG.normal(10, 3, size=(20, 8))
    actual = RNG.normal(10, 3, size=(20, 4))
    actual[0, 0] = 0.0  # MAPE leaves it out; sMAPE counts it
    forecast = actual + RNG.normal(0, 1, size=actual.shape)
    got = forecast_metrics(actual, forecast, history, mase_season=m)
    want = reference(actual, forecast, history, m)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    assert got["mape_excluded"] == 1 and got["count"] == 80
    by_step = metrics_by_step(actual, forecast, history, m)
    for j in range(4):
        step = reference(actual[:, [j]], forecast[:, [j]], history, m)
        assert by_step["rmse"][j] == pytest.approx(step["rmse"], abs=1e-6)
        assert by_step["mase"][j] == pytest.approx(step["mase"], abs=1e-6)


def test_guards_for_zero_actuals_and_constant_histories():
    got = forecast_metrics(np.zeros((2, 2)), np.zeros((2, 2)), np.ones((2, 5)))
    assert got["mape"] is None and got["mape_excluded"] == 4
    assert got["smape"] == 0.0  # both zero: no error
    assert got["mase"] is None  # constant history: no in-sample naive error to scale by


def test_a_failed_bound_on_an_undefined_metric_says_why():
    # A constant zero series: no naive error to scale MASE by, no nonzero actual for MAPE.
    metrics = forecast_metrics(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 5)))
    scores = {"y": {"candidate": {"overall": metrics}}}
    bounds = {"mase": {"upper": 1.0}, "mape": {"upper": 5.0}, "mae": {"upper": 1.0}}
    checks = {
        c["metric"]: c for c in blessing_checks(EvaluateSeriesConfig(thresholds=bounds), scores)
    }
    assert [checks[m]["passed"] for m in ("mase", "mape", "mae")] == [False, False, True]
    assert "constant series" in checks["mase"]["reason"]
    assert "bound mae or rmse instead" in checks["mase"]["reason"]
    assert "every actual value is 0" in checks["mape"]["reason"]
    assert checks["mae"]["reason"] == "y: mae 0 meets <= 1"


def test_naive_baselines():
    history = np.arange(24, dtype=float).reshape(2, 12)
    out = naive_forecasts(history, horizon=3, season=4, moving_average=3)
    np.testing.assert_array_equal(out["persistence"], [[11, 11, 11], [23, 23, 23]])
    np.testing.assert_array_equal(out["seasonal_naive"], [[8, 9, 10], [20, 21, 22]])
    np.testing.assert_allclose(out["moving_average"], [[10, 10, 10], [22, 22, 22]])
    with pytest.raises(ValueError, match="lookback >= window"):
        moving_average_forecast(history, 2, 13)


def test_forecast_config_errors_say_what_to_fix():
    with pytest.raises(ConfigError, match="at least one threshold or beat_baselines"):
        EvaluateSeriesConfig()
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) \['accuracy'\]"):
        EvaluateSeriesConfig(thresholds={"accuracy": {"lower": 0.5}})
    with pytest.raises(ConfigError, match="margin in \\[0, 1\\)"):
        EvaluateSeriesConfig(beat_baselines={"seasonal_naive": 1.5})
    with pytest.raises(ConfigError, match=r"unknown baseline\(s\) \['arima'\]"):
        EvaluateSeriesConfig(beat_baselines={"arima": 0.1})
    config = EvaluateSeriesConfig(season=12, thresholds={"mase": {"upper": 0.8}})
    assert config.thresholds["mase"].upper == 0.8


# -- the component on a hand-built forecaster ------------------------------------------------

LOOKBACK, HORIZON, SHIFT = 12, 3, 1.0


def _persistence_plus_shift_model(path):
    """A SavedModel honouring the forecaster contract: forecast = last value + SHIFT."""
    import tensorflow as tf

    from seqline.schemas.series import raw_series_feature_spec

    spec = raw_series_feature_spec(["y"], [], LOOKBACK, HORIZON, with_future=False)

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            last = tf.io.parse_example(examples, spec)["history/y"][:, -1:]
            return {"forecast": tf.repeat(last, HORIZON, axis=1) + SHIFT}

    module = Model()
    tf.saved_model.save(
        module, str(path), signatures={"serving_default": module.serve.get_concrete_function()}
    )


@pytest.fixture(scope="module")
def forecast_inputs(tmp_path_factory):
    from seqline.pipeline.artifact import Artifact, ArtifactType
    from tests.components.transform.series_fixtures import make_series, write_series_examples

    root = tmp_path_factory.mktemp("evaluate_forecast")
    series = {"a": make_series(140, seed=1), "b": make_series(140, seed=2, level=20)}
    examples, windows = write_series_examples(
        root / "examples", series, ("y",), (), LOOKBACK, HORIZON
    )
    _persistence_plus_shift_model(root / "model" / "saved_model")
    model = Artifact(
        ArtifactType.MODEL,
        str(root / "model"),
        "fp-forecaster",
        producer={"node_id": "train"},
        properties={
            "task": "forecast",
            "targets": ["y"],
            "covariates": [],
            "lookback": LOOKBACK,
            "horizon": HORIZON,
            "forecast_steps": HORIZON,
        },
    )
    return examples, model, windows


def _evaluate(tmp_path, forecast_inputs, config, baseline_model=None):
    from seqline.components.evaluate.series_component import COMPONENT
    from tests.components.transform.series_fixtures import run_component

    examples, model, _ = forecast_inputs
    # The eval split: these windows are built so that the shifted model loses to persistence
    # there (on the trending test split the shift happens to help).
    config = dataclasses.replace(config, eval_split="eval", allow_trainer_split=True)
    return run_component(
        COMPONENT,
        config,
        {"examples": examples, "model": model},
        tmp_path,
        resolved={"baseline_model": baseline_model},
    )


def test_component_scores_the_forecaster_and_its_baselines(tmp_path, forecast_inputs):
    _, _, windows = forecast_inputs
    summary, outputs = _evaluate(
        tmp_path,
        forecast_inputs,
        EvaluateSeriesConfig(
            season=6, thresholds={"mae": {"upper": 100.0}}, beat_baselines={"persistence": 0.0}
        ),
    )
    blessing = outputs["blessing"]
    rows = windows["eval"]
    history = np.stack([w["history"][:, 0] for w in rows])
    actual = np.stack([w["future"][:, 0] for w in rows])
    want = reference(actual, history[:, -1:] + SHIFT + 0 * actual, history)

    metrics = json.loads((tmp_path / "blessing" / "metrics.json").read_text())
    candidate = metrics["targets"]["y"]["candidate"]["overall"]
    for name, value in want.items():
        assert candidate[name] == pytest.approx(value, abs=1e-6), name
    persistence = metrics["targets"]["y"]["persistence"]["overall"]
    assert persistence["mae"] == pytest.approx(
        reference(actual, np.repeat(history[:, -1:], HORIZON, 1), history)["mae"], abs=1e-6
    )
    assert set(metrics["targets"]["y"]["candidate"]["per_series"]) == {"a", "b"}
    assert len(metrics["targets"]["y"]["candidate"]["by_step"]["mae"]) == HORIZON

    # The shifted persistence cannot beat persistence itself: NOT_BLESSED, and it says why.
    assert summary["blessed"] is False and blessing.properties["blessed"] is False
    reasons = blessing.properties["reasons"]
    assert any("vs persistence" in r and "not beaten" in r for r in reasons)
    assert any(r.startswith("y: mae") and "meets <= 100" in r for r in reasons)
    for png in ("forecast_vs_actual.png", "forecast_vs_actual_1.png", "error_by_horizon.png"):
        assert (tmp_path / "blessing" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert blessing.properties["model_fingerprint"] == "fp-forecaster"
    assert blessing.properties["eval_split"] == "eval" == metrics["eval_split"]


def test_component_blesses_when_every_rule_passes(tmp_path, forecast_inputs):
    summary, outputs = _evaluate(
        tmp_path,
        forecast_inputs,
        EvaluateSeriesConfig(season=6, thresholds={"mase": {"upper": 50}}),
    )
    assert summary["blessed"] is True
    assert outputs["blessing"].properties["blessed"] is True
    checks = json.loads((tmp_path / "blessing" / "checks.json").read_text())
    assert all(check["passed"] for check in checks["checks"])
    assert checks["baseline_model"]["uri"] is None  # first run: nothing to compare with


def test_forecaster_is_compared_with_the_last_blessed_forecaster(tmp_path, forecast_inputs):
    import dataclasses

    _, model, _ = forecast_inputs
    baseline = dataclasses.replace(model, fingerprint="fp-blessed-before")
    baseline.properties = {**model.properties, "pushed_version": 3}
    same = EvaluateSeriesConfig(
        season=6, thresholds={"mase": {"upper": 50}}, change_thresholds={"mae": {"absolute": 0}}
    )
    summary, outputs = _evaluate(tmp_path / "same", forecast_inputs, same, baseline)
    blessing = outputs["blessing"]
    assert summary["blessed"] is True and summary["baseline_model_mae"] == summary["mae"]
    assert blessing.properties["baseline_model_uri"] == baseline.uri
    assert blessing.properties["baseline_model_version"] == 3
    assert any(
        "change vs baseline model" in r and "PASS" in r for r in blessing.properties["reasons"]
    )

    # The same forecasts cannot be 10% better than themselves: not blessed, and it says why.
    better = dataclasses.replace(same, change_thresholds={"mae": {"relative": -0.1}})
    summary, outputs = _evaluate(tmp_path / "better", forecast_inputs, better, baseline)
    assert summary["blessed"] is False
    assert any(
        "relative change" in r and "FAIL" in r for r in outputs["blessing"].properties["reasons"]
    )


def test_component_rejects_a_season_longer_than_the_lookback(tmp_path, forecast_inputs):
    with pytest.raises(
        ConfigError, match="evaluate.season: expected at most the windows' lookback"
    ):
        _evaluate(
            tmp_path,
            forecast_inputs,
            EvaluateSeriesConfig(season=48, thresholds={"mae": {"upper": 1}}),
        )


def test_mase_season_defaults_to_the_detected_period(tmp_path, forecast_inputs):
    """Left out, mase_season is the cadence's longest cycle shorter than the lookback: 3-hourly
    windows of 12 steps hold a day (8 steps), so MASE scales by the lag-8 naive error."""
    examples, model, windows = forecast_inputs
    three_hourly = dataclasses.replace(
        examples, properties={**examples.properties, "frequency": "3h"}
    )
    _evaluate(
        tmp_path,
        (three_hourly, model, windows),
        EvaluateSeriesConfig(season=6, thresholds={"mae": {"upper": 100.0}}),
    )
    metrics = json.loads((tmp_path / "blessing" / "metrics.json").read_text())
    assert metrics["mase_season"] == 8
    rows = windows["eval"]
    history = np.stack([w["history"][:, 0] for w in rows])
    actual = np.stack([w["future"][:, 0] for w in rows])
    forecast = history[:, -1:] + SHIFT + 0 * actual
    want = reference(actual, forecast, history, m=8)
    candidate = metrics["targets"]["y"]["candidate"]["overall"]
    assert candidate["mase"] == pytest.approx(want["mase"], abs=1e-6)
    assert want["mase"] != pytest.approx(reference(actual, forecast, history)["mase"])


def test_metrics_per_series_are_each_series_windows_metrics_in_their_order() -> None:
    """metrics_per_series groups the windows once; each series' figures are forecast_metrics
    of exactly its windows, in their order (MASE's in-sample scale reads each window's own
    history), whatever the order the series' windows are interleaved in."""
    from seqline.components.evaluate.forecast_metrics import forecast_metrics, metrics_per_series

    rng = np.random.default_rng(7)
    n, horizon, lookback = 60, 3, 5
    ids = rng.choice(np.array(["b", "a", "c10", "c2"]), size=n)
    actual, forecast = rng.normal(size=(n, horizon)), rng.normal(size=(n, horizon))
    history = rng.normal(size=(n, lookback))
    observed = rng.random((n, horizon)) > 0.2
    got = metrics_per_series(ids, actual, forecast, history, 2, observed=observed)
    assert list(got) == ["a", "b", "c10", "c2"]
    for sid, figures in got.items():
        rows = np.flatnonzero(ids == sid)
        expected = forecast_metrics(
            actual[rows], forecast[rows], history[rows], 2, observed=observed[rows]
        )
        assert figures == expected
    assert metrics_per_series(np.array([], dtype=str), actual[:0], forecast[:0], history[:0]) == {}
