"""Known-future inputs end to end through the real transform, train and export: calendar
features derived in the graph from window_end, and a future covariate fed over the horizon.
Training (transformed records -> Keras model) and serving (raw arrays or raw examples -> the
SavedModel) must compute the same features, and a request without them is a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqline.components.train.config import ForecasterConfig, TrainSeriesConfig
from seqline.components.transform.config import TransformSeriesConfig
from tests.components.transform.series_fixtures import (
    read_transformed_series,
    run_component,
    serialize_window,
    write_series_examples,
)

pytestmark = pytest.mark.slow

LOOKBACK, HORIZON = 12, 4
CALENDAR = ("hour_of_day", "day_of_week")
C = 9  # 2 hour_of_day + 7 day_of_week columns


def _calendar_numpy(times: np.ndarray) -> np.ndarray:
    """float [..., 9]: sin/cos of the time of day, one-hot Monday..Sunday (UTC)."""
    seconds = np.mod(times, 86400)
    angle = 2 * math.pi * seconds / 86400
    weekday = np.mod(times // 86400 + 3, 7)  # 1970-01-01 was a Thursday
    return np.concatenate(
        [np.sin(angle)[..., None], np.cos(angle)[..., None], np.eye(7)[weekday]], axis=-1
    )


def _raw_series(n: int = 240) -> np.ndarray:
    """float [n, 2]: load driven by the hour, the weekday and a temperature; the temperature."""
    rng = np.random.default_rng(3)
    t = np.arange(n)
    temp = 10 + 5 * np.sin(2 * np.pi * t / 24 + 1) + rng.normal(0, 1, n)
    weekend = np.mod(t // 24 + 3, 7) >= 5
    load = 50 + 10 * np.sin(2 * np.pi * t / 24) - 15 * weekend + 2 * temp + rng.normal(0, 1, n)
    return np.stack([load, temp], axis=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from seqline.components.train.series_component import COMPONENT as TRAIN
    from seqline.components.transform.series_component import COMPONENT as TRANSFORM

    base = tmp_path_factory.mktemp("known_future")
    examples, windows = write_series_examples(
        base / "examples", {"": _raw_series()}, ("load",), ("temp",), LOOKBACK, HORIZON,
        future_covariates=("temp",),
    )  # fmt: skip
    _, transformed = run_component(
        TRANSFORM, TransformSeriesConfig(calendar=CALENDAR), {"examples": examples}, base / "tf"
    )
    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(layer="gru", units=(8,), output="seq2seq"),
        epochs=2,
        batch_size=32,
    )
    summary, trained = run_component(TRAIN, config, transformed, base / "train")
    return {"windows": windows, **transformed, **trained, "summary": summary}


def _minmax(windows, column: int) -> tuple[float, float]:
    values = np.concatenate([w["history"][:, column] for w in windows["train"]])
    return float(values.min()), float(values.max() - values.min())


def test_transform_appends_calendar_features_and_the_future_covariate(run):
    rows = read_transformed_series(run["transformed_examples"].uri, "eval")
    windows = run["windows"]["eval"]
    assert len(rows) == len(windows)
    low_y, span_y = _minmax(run["windows"], 0)
    low_t, span_t = _minmax(run["windows"], 1)
    for row, w in zip(rows, windows, strict=True):
        history = row["history"].reshape(LOOKBACK, 2 + C)
        past = w["window_end"] + 3600 * np.arange(-(LOOKBACK - 1), 1)
        ahead = w["window_end"] + 3600 * np.arange(1, HORIZON + 1)
        np.testing.assert_allclose(history[:, 0], (w["history"][:, 0] - low_y) / span_y, 1e-4)
        np.testing.assert_allclose(history[:, 2:], _calendar_numpy(past), atol=1e-5)
        future = row["future"].reshape(HORIZON, 1 + C)
        np.testing.assert_allclose(future[:, 0], (w["future"][:, 1] - low_t) / span_t, 1e-4)
        np.testing.assert_allclose(future[:, 1:], _calendar_numpy(ahead), atol=1e-5)
    graph = run["transform_graph"].properties
    assert graph["calendar"] == list(CALENDAR) and graph["calendar_features"] == C


def test_training_and_serving_compute_the_same_features(run):
    """The Keras model on the transformed records (what training fed it) and the SavedModel
    on raw values (what serving gets) give the same forecast: the calendar and the future
    covariate are computed identically on both paths."""
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(run["model"].path("keras", "model.keras"))
    rows = read_transformed_series(run["transformed_examples"].uri, "eval")
    scaled = model.predict(
        {
            "history": np.stack([r["history"].reshape(LOOKBACK, 2 + C) for r in rows]),
            "future": np.stack([r["future"].reshape(HORIZON, 1 + C) for r in rows]),
        },
        verbose=0,
    )[:, :, 0]
    offset = np.stack([r["target_offset"] for r in rows])
    scale = np.stack([r["target_scale"] for r in rows])
    trained = scaled * scale + offset

    windows = run["windows"]["eval"]
    saved = tf.saved_model.load(run["model"].path("saved_model"))
    served = saved.signatures["forecast"](
        history=tf.constant(np.stack([w["history"] for w in windows]), tf.float32),
        window_end=tf.constant([w["window_end"] for w in windows], tf.int64),
        future_covariates=tf.constant(np.stack([w["future"][:, 1:] for w in windows]), tf.float32),
    )["forecast"].numpy()
    np.testing.assert_allclose(served, trained, rtol=1e-4, atol=1e-3)

    # serving_default: raw examples with window_end and future/temp but no future/load.
    examples = [
        serialize_window("", w["window_end"], w["history"], None, ("load",), ("temp",))
        for w in windows
    ]
    with_future_temp = []
    for raw, w in zip(examples, windows, strict=True):
        example = tf.train.Example.FromString(raw)
        example.features.feature["future/temp"].float_list.value.extend(w["future"][:, 1])
        with_future_temp.append(example.SerializeToString())
    by_example = saved.signatures["serving_default"](examples=tf.constant(with_future_temp))
    np.testing.assert_allclose(by_example["forecast"].numpy(), trained, rtol=1e-4, atol=1e-3)

    props = run["model"].properties
    assert props["future_covariates"] == ["temp"] and props["calendar"] == list(CALENDAR)
    inputs = props["signatures"]["forecast"]["inputs"]
    assert set(inputs) == {"history", "window_end", "future_covariates"}


def test_non_finite_history_or_future_covariates_are_refused_by_name(run):
    """NaN/inf reached the model and came back as a forecast (NaN, or a plausible finite one
    for inf) with status OK; the signatures refuse them, naming the input and its row."""
    import tensorflow as tf

    saved = tf.saved_model.load(run["model"].path("saved_model"))
    windows = run["windows"]["eval"][:2]
    history = np.stack([w["history"] for w in windows]).astype(np.float32)
    end = tf.constant([w["window_end"] for w in windows], tf.int64)
    future = np.stack([w["future"][:, 1:] for w in windows]).astype(np.float32)

    def forecast(history, future):
        return saved.signatures["forecast"](
            history=tf.constant(history), window_end=end, future_covariates=tf.constant(future)
        )

    assert np.isfinite(forecast(history, future)["forecast"].numpy()).all()
    bad_history, bad_future = history.copy(), future.copy()
    bad_history[1, 0, 1] = np.inf  # the covariate's first step, second window
    bad_future[1, -1, 0] = np.nan
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"history: expected finite values, got NaN/inf at row 1 \(of 2\); fill gaps",
    ):
        forecast(bad_history, future)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"future_covariates: expected finite values, got NaN/inf at row 1",
    ):
        forecast(history, bad_future)

    def example(history_row, future_row, w):
        raw = serialize_window("", w["window_end"], history_row, None, ("load",), ("temp",))
        parsed = tf.train.Example.FromString(raw)
        parsed.features.feature["future/temp"].float_list.value.extend(future_row[:, 0])
        return parsed.SerializeToString()

    for rows, name in (
        ([history[0], bad_history[1]], "history/temp"),
        ([history[0], history[1]], "future/temp"),
    ):
        futures = [future[0], bad_future[1]] if name == "future/temp" else [future[0], future[1]]
        examples = [example(h, f, w) for h, f, w in zip(rows, futures, windows, strict=True)]
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=rf"tf.Example feature {name}: expected finite values, got NaN/inf at row 1",
        ):
            saved.signatures["serving_default"](examples=tf.constant(examples))


def test_missing_or_short_known_future_inputs_are_clear_errors(run):
    import tensorflow as tf

    from seqline.serving.client.forecasting import (
        ForecastInputError,
        SavedModelForecaster,
        recursive_forecast,
    )

    model = SavedModelForecaster(run["model"].path("saved_model"))
    assert (model.takes_window_end, model.num_future_covariates, model.horizon) == (
        True,
        1,
        HORIZON,
    )
    w = run["windows"]["eval"][0]
    history, end = w["history"][None].astype(np.float32), [w["window_end"]]
    future = w["future"][None, :, 1:]
    direct = model.predict(history, window_end=end, future_covariates=future)
    assert direct.shape == (1, HORIZON, 1) and np.isfinite(direct).all()

    with pytest.raises(ForecastInputError, match="future_covariates: the model was trained with"):
        model.predict(history, window_end=end)
    with pytest.raises(ForecastInputError, match=f"all {HORIZON} steps ahead, got {HORIZON - 1}"):
        model.predict(history, window_end=end, future_covariates=future[:, :-1])
    with pytest.raises(ForecastInputError, match="window_end: the model derives calendar"):
        model.predict(history, future_covariates=future)
    # The server side refuses a serialized window without window_end, naming it.
    raw = serialize_window("", 0, w["history"], None, ("load",), ("temp",))
    example = tf.train.Example.FromString(raw)
    del example.features.feature["window_end"]
    example.features.feature["future/temp"].float_list.value.extend(w["future"][:, 1])
    saved = tf.saved_model.load(run["model"].path("saved_model"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="window_end"):
        saved.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))

    # Recursion: the first round is the direct forecast; each later round moves window_end on.
    # 3 rounds of H: the last reads H rows after its window, (3 - 1) * H + H rows in all.
    steps = 2 * HORIZON + 1
    temps = np.concatenate([w["future"][:, 1], np.full(2 * HORIZON, 12.0)])[:, None]
    with pytest.raises(ForecastInputError, match=f"needs {3 * HORIZON} rows, got {steps}"):
        recursive_forecast(
            model,
            history,
            steps,
            window_end=end,
            step_seconds=3600,
            future_covariates=temps[:steps],
        )
    out = recursive_forecast(
        model, history, steps, window_end=end, step_seconds=3600, future_covariates=temps
    )
    assert out.shape == (1, steps)
    np.testing.assert_allclose(out[0, :HORIZON], direct[0, :, 0], rtol=1e-5)
    with pytest.raises(ForecastInputError, match="step_seconds"):
        recursive_forecast(model, history, steps, window_end=end, future_covariates=temps)


def test_forecast_cli_passes_the_window_end_and_the_future_covariates(run, tmp_path, capsys):
    import json

    from seqline.pipeline.cli import main
    from seqline.serving.client.forecasting import SavedModelForecaster, recursive_forecast

    w = run["windows"]["eval"][0]
    csv = tmp_path / "last.csv"
    csv.write_text("load,temp\n" + "\n".join(f"{y},{t}" for y, t in w["history"]) + "\n")
    temps = tmp_path / "temps.json"
    # 6 steps = 2 rounds of H = 4: (2 - 1) * 4 + 4 = 8 rows of the known-future covariate.
    temps.write_text(json.dumps([[t] for t in [*w["future"][:, 1], 11.0, 12.0, 13.0, 14.0]]))
    path = run["model"].path("saved_model")
    args = ["forecast", "--saved-model", path, "--history", f"@{csv}", "--steps", "6"]
    args += ["--future-covariates", f"@{temps}"]
    assert main(args) == 2  # no --window-end: the calendar needs it
    assert "window_end" in capsys.readouterr().err
    code = main([*args, "--window-end", str(w["window_end"]), "--step-seconds", "3600"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    expected = recursive_forecast(
        SavedModelForecaster(path),
        w["history"],
        6,
        window_end=[w["window_end"]],
        step_seconds=3600,
        future_covariates=[[t] for t in [*w["future"][:, 1], 11.0, 12.0, 13.0, 14.0]],
    )
    np.testing.assert_allclose(printed["forecast"], expected[0], rtol=1e-5)
