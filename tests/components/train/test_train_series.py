"""The train component on series windows: the shared training loop, and a SavedModel that takes
raw values and returns forecasts in original units (checked against numpy scaling), used by the
recursive forecasting library."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.components.train.config import ForecasterConfig, TrainSeriesConfig
from tests.components.train.series_inputs import HORIZON, LOOKBACK, transform_and_train
from tests.components.transform.series_fixtures import serialize_window

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(layer="gru", units=(8,), output="direct", loss="huber"),
        epochs=2,
        batch_size=16,
    )
    return transform_and_train(tmp_path_factory.mktemp("series_train"), config)


def _minmax(windows, series_id=None):
    """(low [F], range [F]) over the train windows' histories (of one series, or all)."""
    values = np.concatenate(
        [w["history"] for w in windows["train"] if series_id in (None, w["series_id"])]
    )
    low, high = values.min(axis=0), values.max(axis=0)
    return low, high - low


def _eval_arrays(run):
    rows = run.windows["eval"]
    history = np.stack([w["history"] for w in rows]).astype(np.float32)
    ids = np.array([w["series_id"] for w in rows])
    return rows, history, ids


def test_forecast_signature_returns_the_keras_model_in_original_units(series_run):
    import keras
    import tensorflow as tf

    saved = tf.saved_model.load(series_run.model.path("saved_model"))
    model = keras.saving.load_model(series_run.model.path("keras", "model.keras"))
    rows, history, ids = _eval_arrays(series_run)

    expected = np.zeros((len(rows), HORIZON))
    for sid in set(ids):
        low, span = _minmax(series_run.windows, sid)
        mask = ids == sid
        scaled = model.predict({"history": (history[mask] - low) / span}, verbose=0)
        expected[mask] = scaled[:, :, 0] * span[0] + low[0]

    got = saved.signatures["forecast"](
        history=tf.constant(history), series_id=tf.constant(ids.astype(bytes))
    )["forecast"].numpy()
    assert got.shape == (len(rows), HORIZON)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)

    # serving_default: serialized raw windows without the future give the same forecasts.
    serialized = [
        serialize_window(w["series_id"], w["window_end"], w["history"], None, ("y",), ("x",))
        for w in rows
    ]
    by_example = saved.signatures["serving_default"](examples=tf.constant(serialized))
    np.testing.assert_allclose(by_example["forecast"].numpy(), got, rtol=1e-5, atol=1e-5)

    # A series the train split never saw is scaled with the global statistics.
    low, span = _minmax(series_run.windows)
    scaled = model.predict({"history": (history[:2] - low) / span}, verbose=0)
    unseen = saved.signatures["forecast"](
        history=tf.constant(history[:2]), series_id=tf.constant([b"new", b"new"])
    )["forecast"].numpy()
    np.testing.assert_allclose(unseen, scaled[:, :, 0] * span[0] + low[0], rtol=1e-4, atol=1e-3)


def test_export_loads_as_tf_serving_loads_it(series_run):
    from tests.components.train.session_loading import assert_serves_from_a_session

    _, history, ids = _eval_arrays(series_run)
    assert_serves_from_a_session(
        series_run.model.path("saved_model"),
        {"forecast": {"history": history, "series_id": ids.astype(bytes).astype(object)}},
    )


def test_model_properties_and_training_outputs(series_run):
    props = series_run.model.properties
    assert props["task"] == "forecast"
    assert (props["lookback"], props["horizon"], props["forecast_steps"]) == (
        LOOKBACK,
        HORIZON,
        HORIZON,
    )
    assert props["targets"] == ["y"] and props["covariates"] == ["x"]
    assert props["per_series"] is True and props["epochs_run"] == 2
    assert props["signatures"]["forecast"]["inputs"] == {
        "history": f"float32 [None, {LOOKBACK}, 2]",
        "series_id": "string [None]",
    }
    assert props["signatures"]["forecast"]["outputs"] == {"forecast": f"float32 [None, {HORIZON}]"}
    assert "val_mae" in series_run.summary
    assert props["validation_split"] == "eval"  # the split val_mae is on
    history_csv = series_run.model_run.path("history.csv")
    with open(history_csv) as f:
        header = f.readline().strip().split(",")
    assert {"loss", "val_loss", "mae", "val_mae", "rmse", "val_rmse"} <= set(header)


def test_recursive_forecast_beyond_the_horizon_feeds_predictions_back(series_run):
    from seqline.serving.client.forecasting import SavedModelForecaster, recursive_forecast

    forecaster = SavedModelForecaster(series_run.model.path("saved_model"))
    assert (forecaster.lookback, forecaster.num_features, forecaster.steps) == (
        LOOKBACK,
        2,
        HORIZON,
    )
    _, history, ids = _eval_arrays(series_run)
    history, ids = history[:3], ids[:3]
    covariates = np.full((3, 7, 1), 0.5, np.float32)
    out = recursive_forecast(forecaster, history, 7, series_id=ids, future_covariates=covariates)
    assert out.shape == (3, 7)
    # The first H steps are the model's own direct forecast.
    first = forecaster.predict(history, ids)[:, :, 0]  # [B, S, T] -> [B, S]
    np.testing.assert_allclose(out[:, :HORIZON], first, rtol=1e-6)
    # The next call sees the window shifted by H, ending with those predictions.
    window = np.concatenate([history[:, HORIZON:, :], np.zeros((3, HORIZON, 2), np.float32)], 1)
    window[:, -HORIZON:, 0] = first
    window[:, -HORIZON:, 1] = 0.5
    np.testing.assert_allclose(
        out[:, HORIZON : 2 * HORIZON], forecaster.predict(window, ids)[:, :, 0], rtol=1e-5
    )


def test_forecast_cli_prints_the_recursive_forecast_of_a_saved_model(series_run, tmp_path, capsys):
    import json

    from seqline.pipeline.cli import main
    from seqline.serving.client.forecasting import SavedModelForecaster, recursive_forecast

    _, history, ids = _eval_arrays(series_run)
    csv = tmp_path / "last.csv"
    csv.write_text("y,x\n" + "\n".join(f"{y},{x}" for y, x in history[0]) + "\n")
    path = series_run.model.path("saved_model")
    args = ["forecast", "--saved-model", path, "--history", f"@{csv}", "--steps", "5"]
    code = main([*args, "--series-id", str(ids[0]), "--hold-covariates"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["steps"] == 5 and printed["series_id"] == ids[0]
    expected = recursive_forecast(
        SavedModelForecaster(path), history[0], 5, series_id=[ids[0]], hold_covariates=True
    )
    np.testing.assert_allclose(printed["forecast"], expected[0], rtol=1e-6)
    # Covariates are needed to go past the horizon: a usage error (exit 2) says so.
    assert main([*args, "--series-id", str(ids[0])]) == 2
    assert "future_covariates" in capsys.readouterr().err


def _train_on(series_run, config, base):
    """The train component alone on series_run's transformed windows (the same transform
    transform_and_train would run again): (summary, outputs)."""
    from seqline.components.train.series_component import COMPONENT as TRAIN
    from tests.components.transform.series_fixtures import run_component

    inputs = {
        "transform_graph": series_run.transform_graph,
        "transformed_examples": series_run.transformed_examples,
    }
    return run_component(TRAIN, config, inputs, base)


def test_level_window_model_serves_raw_history_and_has_no_step(series_run, tmp_path):
    """The level-corrected seasonal naive is built from layers only, so the exported model
    still maps raw history to forecasts in original units (per-series min-max scaling inside),
    and the streaming step is not exported (it needs values a season back). Trained with
    weight averaging (ema), so the real loop runs its callbacks too."""
    import keras
    import tensorflow as tf

    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(
            layer="gru", units=(4,), output="direct", residual_lag=4, level_window=4
        ),
        epochs=2,
        batch_size=16,
        ema=0.9,
    )
    _, trained = _train_on(series_run, config, tmp_path)
    model_artifact = trained["model"]
    assert model_artifact.properties["streaming"] is False
    assert "step" not in model_artifact.properties["signatures"]
    saved = tf.saved_model.load(model_artifact.path("saved_model"))
    model = keras.saving.load_model(model_artifact.path("keras", "model.keras"))
    rows, history, ids = _eval_arrays(series_run)
    expected = np.zeros((len(rows), HORIZON))
    for sid in set(ids):
        low, span = _minmax(series_run.windows, sid)
        mask = ids == sid
        scaled = model.predict({"history": (history[mask] - low) / span}, verbose=0)
        expected[mask] = scaled[:, :, 0] * span[0] + low[0]
    got = saved.signatures["forecast"](
        history=tf.constant(history), series_id=tf.constant(ids.astype(bytes))
    )["forecast"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_training_that_diverges_fails_instead_of_exporting_nan_weights(series_run, tmp_path):
    from seqline.pipeline.errors import DataError

    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(layer="gru", units=(4,), output="direct"),
        epochs=2,
        batch_size=16,
        learning_rate=1e30,
    )
    with pytest.raises(DataError, match="training diverged"):
        _train_on(series_run, config, tmp_path)


def test_a_series_ensemble_serves_the_mean_forecast_without_a_step_signature(series_run, tmp_path):
    """train.ensemble (ensemble.py) on series_run's transformed windows: the mean of two
    members' forecasts, served by the forecast signature; no step signature (streamable)."""
    import keras
    import tensorflow as tf

    from seqline.components.train.config import EnsembleConfig

    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(layer="gru", units=(4,), output="direct"),
        epochs=1,
        batch_size=32,
        ema=0.9,
        ensemble=EnsembleConfig(members=2),
    )
    summary, trained = _train_on(series_run, config, tmp_path)
    model_artifact = trained["model"]
    saved = tf.saved_model.load(model_artifact.path("saved_model"))
    assert "forecast" in saved.signatures and "step" not in saved.signatures
    assert model_artifact.properties["streaming"] is False
    assert set(model_artifact.properties["best_metrics"]) == {"val_loss", "val_mae", "val_rmse"}
    assert len(summary["member_val_loss"]) == 2

    model = keras.saving.load_model(model_artifact.path("keras", "model.keras"))
    rows = series_run.windows["eval"]
    history = np.stack([w["history"] for w in rows]).astype(np.float32)
    scaled = {"history": history / np.abs(history).max(axis=(0, 1))}
    members = [np.asarray(model.get_layer(f"member_{k}")(scaled)) for k in (1, 2)]
    np.testing.assert_allclose(
        np.asarray(model(scaled)), (members[0] + members[1]) / 2, rtol=1e-6, atol=1e-7
    )
    assert not np.allclose(members[0], members[1], atol=1e-4)

    ids = np.array([w["series_id"] for w in rows]).astype(bytes)
    forecast = saved.signatures["forecast"](history=tf.constant(history), series_id=ids)
    assert forecast["forecast"].shape == (len(rows), HORIZON)
    assert np.isfinite(forecast["forecast"].numpy()).all()


def test_series_ids_are_stripped_in_the_graph_refused_empty_and_unknown_ones_warn(
    series_run, tmp_path, capsys
):
    import json

    import tensorflow as tf

    from seqline.pipeline.cli import main
    from seqline.serving.client.forecasting import SavedModelForecaster, UnknownSeriesWarning

    path = series_run.model.path("saved_model")
    _, history, _ = _eval_arrays(series_run)
    forecast = tf.saved_model.load(path).signatures["forecast"]
    batch = tf.constant(np.repeat(history[:1], 5, axis=0))
    ids = tf.constant([b"a", b" a\t", b"a\xc2\xa0", b"A", b"new"])  # \xc2\xa0: NO-BREAK SPACE
    got = forecast(history=batch, series_id=ids)["forecast"].numpy()
    # The graph strips as ingest does (Python's str.strip()); case stays significant, so "A"
    # is an unknown series and gets the global statistics, like "new".
    np.testing.assert_array_equal(got[1], got[0])
    np.testing.assert_array_equal(got[2], got[0])
    np.testing.assert_array_equal(got[3], got[4])
    assert np.abs(got[3] - got[0]).max() > 1e-3

    model = SavedModelForecaster(path)
    assert model.trained_series_ids == {"a", "b"}
    with pytest.warns(UnknownSeriesWarning, match="case-sensitive"):
        model.predict(history[:1], np.array(["A"], object))

    csv = tmp_path / "last.csv"
    csv.write_text("y,x\n" + "\n".join(f"{y},{x}" for y, x in history[0]) + "\n")
    args = ["forecast", "--saved-model", path, "--history", f"@{csv}", "--steps", "2"]
    args.append("--hold-covariates")
    assert main(args) == 2
    assert "--series-id" in capsys.readouterr().err
    assert main([*args, "--series-id", "A"]) == 0
    captured = capsys.readouterr()
    assert "warning: series_id 'A': not among the 2 series" in captured.err
    assert json.loads(captured.out)["series_id"] == "A"


def test_a_refit_forecaster_trains_on_train_and_eval_and_serves_like_any(series_run, tmp_path):
    """train.refit (refit.py) with a forecaster: the exported model is the refit one (its
    weights differ from the first fit's best checkpoint), trained on both splits' windows,
    and the forecast signature serves it; weight averaging (ema) runs through the refit."""
    import keras
    import tensorflow as tf

    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(layer="gru", units=(4,), output="direct"),
        epochs=3,
        batch_size=16,
        ema=0.9,
        refit=True,
    )
    summary, trained = _train_on(series_run, config, tmp_path)
    model_artifact = trained["model"]
    refit = model_artifact.properties["refit"]
    counts = series_run.transformed_examples.properties["counts"]
    assert refit["split"] == "eval"
    assert refit["examples"] == counts["train"] + counts["eval"]
    assert refit["epochs"] == model_artifact.properties["best_epoch"] + 1
    assert summary["refit"] == f"{refit['epochs']} epoch(s) on train+eval"
    exported = keras.saving.load_model(model_artifact.path("keras", "model.keras"))
    first_fit = keras.saving.load_model(model_artifact.path("keras", "model.keras"))
    first_fit.load_weights(trained["model_run"].path("checkpoints", "best.weights.h5"))
    assert any(
        not np.allclose(a, b)
        for a, b in zip(exported.get_weights(), first_fit.get_weights(), strict=True)
    )
    rows, history, ids = _eval_arrays(series_run)
    saved = tf.saved_model.load(model_artifact.path("saved_model"))
    got = saved.signatures["forecast"](
        history=tf.constant(history), series_id=tf.constant(ids.astype(bytes))
    )["forecast"].numpy()
    assert got.shape == (len(rows), HORIZON) and np.isfinite(got).all()
