"""The streaming step signatures (series_step.py): feeding a window's points one by one through
`step`, from `step_start`, gives the window signature's forecast, for every recurrent layer and
output mode, per-series and log1p scaling, and from a saved and reloaded SavedModel.

The forecasters are built untrained (random weights exercise every gate); the scaling comes from
the real transform component on two series of very different levels."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.components.train.config import ForecasterConfig
from seqline.components.transform.config import TransformSeriesConfig
from tests.components.train.series_inputs import HORIZON, LOOKBACK, raw_series
from tests.components.transform.series_fixtures import run_component, write_series_examples

pytestmark = pytest.mark.slow

CONFIGS = {
    "lstm-stacked-direct": ForecasterConfig(layer="lstm", units=(6, 5), output="direct"),
    "gru-last": ForecasterConfig(layer="gru", units=(7,), output="last"),
    "simple_rnn-sequence": ForecasterConfig(layer="simple_rnn", units=(5, 4), output="sequence"),
    "lstm-seq2seq": ForecasterConfig(layer="lstm", units=(6,), output="seq2seq"),
}


def _transform(base, config):
    from seqline.components.transform.series_component import COMPONENT as TRANSFORM

    # Levels 5 and 5000 (x 1000): the scaler must be exact for large values too.
    series = raw_series()
    series["b"] = series["b"] * 100.0
    examples, windows = write_series_examples(
        base / "examples", series, ("y",), ("x",), LOOKBACK, HORIZON
    )
    _, outputs = run_component(TRANSFORM, config, {"examples": examples}, base / "tf")
    return outputs["transform_graph"], windows


@pytest.fixture(scope="module")
def minmax_graph(tmp_path_factory):
    return _transform(tmp_path_factory.mktemp("step_minmax"), TransformSeriesConfig())


@pytest.fixture(scope="module")
def log_zscore_graph(tmp_path_factory):
    return _transform(
        tmp_path_factory.mktemp("step_zscore"), TransformSeriesConfig(scaling="zscore", log1p=True)
    )


def _export(graph, config, log1p, seed=3):
    import keras

    from seqline.components.train.forecasters import build_forecaster
    from seqline.components.train.series_export import ForecasterExport
    from seqline.components.train.series_step import attach_step_signatures

    keras.utils.set_random_seed(seed)
    model = build_forecaster(config, LOOKBACK, 2, HORIZON)
    module = ForecasterExport(
        model, graph.uri, ("y",), ("x",), LOOKBACK, HORIZON, config.output, log1p, True
    )
    attach_step_signatures(module, config, ("y",), ("x",), LOOKBACK, HORIZON, log1p)
    return module


def _windows(windows):
    """Six windows: three of series "a" (eval) and three of "b" (test); history [B, L, 2] and
    ids [B]."""
    rows = windows["eval"][:3] + windows["test"][-3:]
    history = np.stack([w["history"] for w in rows]).astype(np.float32)
    ids = np.array([w["series_id"] for w in rows]).astype(bytes)
    return history, ids


def _stream(step_start, step, history, ids):
    """Feeds history [B, L, F] one step at a time; returns the forecast after each point."""
    import tensorflow as tf

    state = step_start(series_id=tf.constant(ids))["state"]
    forecasts = []
    for t in range(history.shape[1]):
        out = step(value=tf.constant(history[:, t, :]), state=state)
        state = out["state"]
        forecasts.append(out["forecast"].numpy())
    return forecasts, state.numpy()


def _window_forecast(forecast_fn, history, ids):
    """The window signature's forecast; the module's tf.function takes its inputs by position
    (in its input signature's order), a loaded signature by name."""
    import tensorflow as tf

    given = {"history": tf.constant(history), "series_id": tf.constant(ids)}
    specs = getattr(forecast_fn, "input_signature", None)
    if specs:
        return forecast_fn(*[given[spec.name] for spec in specs])["forecast"].numpy()
    return forecast_fn(**given)["forecast"].numpy()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_stepping_through_a_window_gives_the_window_forecast(minmax_graph, name):
    graph, windows = minmax_graph
    module = _export(graph, CONFIGS[name], log1p=False)
    history, ids = _windows(windows)
    expected = _window_forecast(module.serve_forecast, history, ids)
    forecasts, state = _stream(module.step_start, module.step, history, ids)
    assert forecasts[-1].shape == expected.shape
    np.testing.assert_allclose(forecasts[-1], expected, rtol=1e-4, atol=1e-3)
    start = module.step_functions["step_start"].get_concrete_function()
    assert state.shape == (len(ids), start.structured_outputs["state"].shape[1])
    # Before the last point the forecast differs: the state really carries the stream.
    assert not np.allclose(forecasts[-2], expected, rtol=1e-4, atol=1e-3)


def test_log1p_zscore_scaling_and_an_unknown_series(log_zscore_graph):
    graph, windows = log_zscore_graph
    module = _export(graph, CONFIGS["lstm-stacked-direct"], log1p=True)
    history, ids = _windows(windows)
    ids[:2] = b"never-seen"  # the global statistics, as the window signature uses
    expected = _window_forecast(module.serve_forecast, history, ids)
    forecasts, _ = _stream(module.step_start, module.step, history, ids)
    np.testing.assert_allclose(forecasts[-1], expected, rtol=1e-4, atol=1e-3)


@pytest.fixture(scope="module")
def exported(minmax_graph, tmp_path_factory):
    """(base path, signature summary) of the "lstm-stacked-direct" forecaster exported once as
    version 1 of model "demand" (`{base}/1`), for the SavedModel and the model-server tests."""
    from seqline.components.train.series_export import export_forecaster

    graph, _ = minmax_graph
    base = tmp_path_factory.mktemp("step_export") / "demand"
    module = _export(graph, CONFIGS["lstm-stacked-direct"], log1p=False)
    return base, export_forecaster(module, str(base / "1"))


def test_saved_model_serves_the_step_signatures(minmax_graph, exported):
    import tensorflow as tf

    _, windows = minmax_graph
    base, summary = exported
    saved = str(base / "1")
    assert set(summary) == {"serving_default", "forecast", "step_start", "step"}
    # The identity, LSTM h and c per layer, then offset and scale per column. step takes a
    # state of any width, so that another model's state is refused by its identity.
    state_width = 2 + 2 * (6 + 5) + 2 * 2
    assert summary["step_start"]["outputs"] == {"state": f"float32 [None, {state_width}]"}
    assert summary["step"]["inputs"] == {
        "state": "float32 [None, None]",
        "value": "float32 [None, 2]",
    }
    assert set(summary["step"]["outputs"]) == {"forecast", "state"}

    loaded = tf.saved_model.load(saved)
    history, ids = _windows(windows)
    forecasts, _ = _stream(loaded.signatures["step_start"], loaded.signatures["step"], history, ids)
    expected = _window_forecast(loaded.signatures["forecast"], history, ids)
    np.testing.assert_allclose(forecasts[-1], expected, rtol=1e-4, atol=1e-3)

    # As TF Serving loads it (a TF1 Session): the step signatures read the Keras cells'
    # variables directly, and those are restored too.
    from tests.components.train.session_loading import assert_serves_from_a_session

    ids_bytes = ids.astype(object)
    start = loaded.signatures["step_start"](series_id=tf.constant(ids))
    assert_serves_from_a_session(
        saved,
        {
            "step_start": {"series_id": ids_bytes},
            "step": {"value": history[:, 0, :], "state": start["state"].numpy()},
        },
    )


@pytest.fixture(scope="module")
def loaded(exported):
    """The exported SavedModel, loaded once."""
    import tensorflow as tf

    base, _ = exported
    return tf.saved_model.load(str(base / "1"))


def _start(model, ids):
    import tensorflow as tf

    return model.signatures["step_start"](series_id=tf.constant(ids))["state"].numpy()


def _step(model, value, state):
    import tensorflow as tf

    return model.signatures["step"](
        value=tf.constant(value, tf.float32), state=tf.constant(state, tf.float32)
    )


def test_step_refuses_non_finite_values_and_row_counts_that_differ(minmax_graph, loaded):
    """NaN returned a NaN forecast and state (a stream that keeps its state is poisoned), inf a
    plausible finite forecast; one value row with two state rows was broadcast to both."""
    import tensorflow as tf

    _, windows = minmax_graph
    history, ids = _windows(windows)
    state = _start(loaded, ids[:2])
    good = history[:2, 0, :]
    assert np.isfinite(_step(loaded, good, state)["forecast"].numpy()).all()
    assert _step(loaded, good[:0], state[:0])["state"].shape == (0, state.shape[1])
    for bad in (np.nan, np.inf, -np.inf):
        value = good.copy()
        value[1, 1] = bad  # the covariate of the second stream
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"value: expected finite values, got NaN/inf at row 1 \(of 2\); fill gaps",
        ):
            _step(loaded, value, state)
    for value, rows in ((good[:1], (1, 2)), (history[:3, 0, :], (3, 2))):
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=rf"value has {rows[0]} rows, state has {rows[1]}: send one state row per "
            r"value row \(one per stream; states come from step_start / the previous step\)",
        ):
            _step(loaded, value, state)


def test_step_refuses_states_not_made_by_step_start(minmax_graph, loaded):
    """An all-zero state (a natural guess for an RNN's initial state) forecast 0.0 (its scale
    is 0), a state of 1e30 forecast ~1e30; a real state whose scale was zeroed or made inf, or
    that was cut short or extended."""
    import tensorflow as tf

    _, windows = minmax_graph
    history, ids = _windows(windows)
    state = _start(loaded, ids[:1])
    value = history[:1, 0, :]
    for made in (np.zeros_like(state), np.full_like(state, 1e30)):
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"state: made by another model, or not by step_start .*start a new stream "
            r"with step_start \(StepForecaster.restart\(\)\)",
        ):
            _step(loaded, value, made)
    # This model's identity at another width was "made by another model": cut short (a
    # storage column too narrow) or extended.
    width = state.shape[1]
    for altered in (state[:, :-1], state[:, :2], np.concatenate([state, state[:, -1:]], axis=1)):
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=rf"state: its identity matches this model, but it is {altered.shape[1]} wide "
            rf"and states of this model are {width} wide: a truncated or altered state, not one "
            r"step_start or step returned .*start a new stream with step_start",
        ):
            _step(loaded, value, altered)
    for bad in (0.0, np.inf, np.nan):
        edited = state.copy()
        edited[0, -1] = bad  # the covariate's scale
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"state: NaN/inf or a scale of 0 at row 0, so it was not made by step_start",
        ):
            _step(loaded, value, edited)


def test_step_refuses_a_state_made_by_another_model(minmax_graph, loaded):
    """A retrained version (same architecture, other weights) used a previous version's state
    silently; another architecture failed with a bare shape error. The same weights exported
    again (a re-export, or another replica) accept each other's states."""
    import tensorflow as tf

    graph, windows = minmax_graph
    history, ids = _windows(windows)
    value = history[:2, 0, :]
    old_state = _start(loaded, ids[:2])
    same = _export(graph, CONFIGS["lstm-stacked-direct"], log1p=False)  # seed 3, as `exported`
    np.testing.assert_allclose(
        same.step(value=tf.constant(value), state=tf.constant(old_state))["forecast"].numpy(),
        _step(loaded, value, old_state)["forecast"].numpy(),
        rtol=1e-6,
    )
    retrained = _export(graph, CONFIGS["lstm-stacked-direct"], log1p=False, seed=4)
    other = _export(graph, CONFIGS["gru-last"], log1p=False)
    for module in (retrained, other):
        assert module.step_start(series_id=tf.constant(ids[:2]))["state"].shape[1] > 2
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"state: made by another model, or not by step_start \(its first row has "
            r"identity \[\d+ \d+\] and width \d+, this model has identity \[\d+ \d+\] and "
            r"width \d+\); start a new stream with step_start",
        ):
            module.step(value=tf.constant(value), state=tf.constant(old_state))
        with pytest.raises(tf.errors.InvalidArgumentError, match="made by another model"):
            own = module.step_start(series_id=tf.constant(ids[:2]))["state"]
            _step(loaded, value, own.numpy())


def test_step_refusals_are_invalid_argument_as_tf_serving_loads_the_model(
    minmax_graph, exported, loaded
):
    """In a TF1 Session, as tensorflow_model_server runs it: the refusal is the request's
    INVALID_ARGUMENT (HTTP 400), with the message."""
    from seqline.serving.errors import Code, ServingError
    from seqline.serving.server.servable import _session_signatures

    _, windows = minmax_graph
    history, ids = _windows(windows)
    base, _ = exported
    state = _start(loaded, ids[:1])
    value = history[:1, 0, :].copy()
    value[0, 0] = np.nan
    session, runners = _session_signatures(str(base / "1"), ("serve",), ["step", "forecast"])
    try:
        with pytest.raises(ServingError, match="value: expected finite values") as refused:
            runners["step"]({"value": value, "state": state})
        assert refused.value.code == Code.INVALID_ARGUMENT
        window = history[:1].copy()
        window[0, 5, 1] = np.inf
        with pytest.raises(
            ServingError, match=r"history: expected finite values, got NaN/inf at row 0"
        ) as refused:
            runners["forecast"]({"history": window, "series_id": ids[:1].astype(object)})
        assert refused.value.code == Code.INVALID_ARGUMENT
    finally:
        session.close()


def test_bidirectional_encoders_are_not_streamable(minmax_graph):
    from seqline.components.train.series_step import StepFunctions, streamable

    config = ForecasterConfig(layer="gru", units=(4,), bidirectional=True)
    assert "bidirectional" in (streamable(config) or "")
    with pytest.raises(ValueError, match="no step signatures: a bidirectional"):
        StepFunctions(None, None, config, ("y",), (), LOOKBACK, HORIZON, False)


def test_a_model_server_streams_through_step_with_a_stateless_client_state(minmax_graph, exported):
    """The real gRPC Predict API (tensorflow_serving.apis stubs, named inputs and outputs): the
    StepForecaster client gets the window forecast after L points, and a second client resuming
    from the first one's saved state continues the same stream."""
    from seqline.serving.client.client import PredictionClient
    from seqline.serving.client.forecasting import (
        ForecastInputError,
        SavedModelForecaster,
        StepForecaster,
    )
    from seqline.serving.server.server import FREE_PORT, ServerOptions, start_server

    _, windows = minmax_graph
    base, _ = exported  # stacked LSTMs: the state carries h and c of two layers
    history, ids = _windows(windows)
    window, series_id = history[4], ids[4].decode()
    expected = SavedModelForecaster(str(base / "1")).predict(
        window[None], np.array([series_id], dtype=object)
    )[0, :, 0]

    handle = start_server(
        ServerOptions(
            port=0,
            rest_api_port=FREE_PORT,
            model_name="demand",
            model_base_path=str(base),
            file_system_poll_wait_seconds=0.2,
        )
    )
    try:
        handle.wait_until_ready(timeout=60.0)
        client = PredictionClient(handle.grpc_target, "demand")
        stream = StepForecaster.from_client(client, series_id)
        assert stream.num_features == 2
        for row in window[:5]:
            stream.update(row)
        # A new client (another replica, or after a restart) resumes from the saved state.
        resumed = StepForecaster.from_client(client, series_id, state=stream.state)
        for row in window[5:]:
            forecast = resumed.update(row)
        assert forecast.shape == expected.shape == (HORIZON,)
        np.testing.assert_allclose(forecast, expected, rtol=1e-4, atol=1e-3)
        with pytest.raises(ForecastInputError, match="point: expected 2 finite value"):
            resumed.update([1.0])
        client.close()
    finally:
        handle.stop()

    local = StepForecaster.from_saved_model(str(base / "1"), series_id)
    for row in window:
        forecast = local.update(row)
    assert local.points == LOOKBACK
    np.testing.assert_allclose(forecast, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("config", "inputs", "reason"),
    [
        (ForecasterConfig(layer="gru", units=(4,), residual_lag=3), {}, "residual_lag"),
        (ForecasterConfig(layer="gru", units=(4,), linear_skip=True), {}, "linear_skip"),
        (ForecasterConfig(layer="gru", units=(4,), lag_context=(3,)), {}, "lag_context"),
        (
            ForecasterConfig(layer="gru", units=(4,), residual_lag=3, level_window=2),
            {},
            "level_window",
        ),
        (ForecasterConfig(layer="gru", units=(4,)), {"calendar": True}, "timestamp"),
        (ForecasterConfig(layer="gru", units=(4,)), {"future_covariates": True}, "horizon"),
    ],
)
def test_models_that_read_the_whole_window_or_its_timestamps_get_no_step(config, inputs, reason):
    """A step holds only the recurrent state and the scaler: the lagged value, a linear map of
    the history, timestamps and horizon inputs are all out of its reach, so export skips it."""
    from seqline.components.train.series_step import streamable

    assert streamable(ForecasterConfig(layer="gru", units=(4,))) is None
    assert reason in (streamable(config, **inputs) or "")
