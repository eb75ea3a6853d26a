"""Forecaster builders: the seed tutorials' parameter counts, output shapes, losses, targets."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.components.train.config import ForecasterConfig, TrainSeriesConfig, from_json, to_json
from seqline.pipeline.errors import ConfigError

STEPS, FEATURES = 10, 5


def _counts(config: ForecasterConfig, **kwargs) -> dict[str, int]:
    from seqline.components.train.forecasters import build_forecaster

    model = build_forecaster(config, STEPS, FEATURES, horizon=kwargs.pop("horizon", 1), **kwargs)
    return {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}


@pytest.mark.parametrize(
    ("layer", "expected"), [("simple_rnn", 4_480), ("lstm", 17_920), ("gru", 13_632)]
)
def test_single_layer_counts_match_the_seed(layer, expected):
    counts = _counts(ForecasterConfig(layer=layer, units=(64,), output="last"))
    # Keras's own formulas: SimpleRNN u(u+F+1); LSTM 4u(u+F+1); GRU (reset_after) 3u(u+F+2).
    assert counts == {f"{layer}_0": expected, "head": 65}


def test_stacked_bidirectional_and_time_distributed_counts_match_the_seed():
    stacked = _counts(ForecasterConfig(units=(64, 32), output="last"))
    assert (stacked["lstm_0"], stacked["lstm_1"]) == (17_920, 12_416)
    bidirectional = _counts(ForecasterConfig(units=(64,), bidirectional=True, output="last"))
    assert bidirectional["bi_lstm_0"] == 35_840
    per_step = _counts(ForecasterConfig(units=(64,), output="sequence"))
    assert per_step == {"lstm_0": 17_920, "head": 65}


def test_stacked_dropout_follows_every_layer_but_the_last_and_acts_only_in_training():
    from seqline.components.train.forecasters import build_forecaster

    config = ForecasterConfig(units=(6, 5, 4), stacked_dropout=0.5, dropout=0.5, output="last")
    model = build_forecaster(config, STEPS, FEATURES, 1)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["lstm_0", "dropout_0", "lstm_1", "dropout_1", "lstm_2", "dropout", "head",
                     "steps"]  # fmt: skip
    assert [model.get_layer(f"dropout_{i}").rate for i in (0, 1)] == [0.5, 0.5]
    x = {"history": np.random.default_rng(0).normal(size=(4, STEPS, FEATURES)).astype("float32")}
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))
    # Dropout adds no parameters: the count is the LSTMs' and the head's.
    assert _counts(config) == _counts(ForecasterConfig(units=(6, 5, 4), output="last"))
    with pytest.raises(ConfigError, match="stacked_dropout"):
        ForecasterConfig(stacked_dropout=1.0)


@pytest.mark.parametrize(
    ("output", "steps"), [("last", 1), ("direct", 3), ("seq2seq", 3), ("sequence", STEPS)]
)
def test_output_shapes(output, steps):
    from seqline.components.train.forecasters import build_forecaster

    model = build_forecaster(
        ForecasterConfig(layer="gru", units=(4,), output=output), STEPS, FEATURES, 3, 2
    )
    out = model({"history": np.zeros((7, STEPS, FEATURES), np.float32)})
    assert tuple(out.shape) == (7, steps, 2)


def test_training_target_shifts_the_history_for_sequence_output():
    from seqline.components.train.forecasters import training_target

    history = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    target = -np.arange(2 * 2 * 1, dtype=np.float32).reshape(2, 2, 1) - 1
    shifted = np.asarray(training_target("sequence", history, target, 1))
    np.testing.assert_array_equal(shifted[:, :3, 0], history[:, 1:, 0])
    np.testing.assert_array_equal(shifted[:, 3, 0], target[:, 0, 0])
    assert np.asarray(training_target("last", history, target, 1)).shape == (2, 1, 1)
    assert np.asarray(training_target("direct", history, target, 1)).shape == (2, 2, 1)


def test_losses_are_the_configured_ones():
    import keras

    from seqline.components.train.forecasters import make_loss

    y, p = np.array([[0.0], [3.0]], np.float32), np.array([[1.0], [0.0]], np.float32)
    values = {
        loss: float(make_loss(ForecasterConfig(loss=loss, huber_delta=1.0))(y, p))
        for loss in ("mse", "mae", "huber")
    }
    assert values["mse"] == pytest.approx((1 + 9) / 2)
    assert values["mae"] == pytest.approx((1 + 3) / 2)
    # Huber(1): 0.5 * 1^2 for |e| = 1 and 1 * (3 - 0.5) for |e| = 3.
    assert values["huber"] == pytest.approx((0.5 + 2.5) / 2)
    assert isinstance(make_loss(ForecasterConfig(loss="huber")), keras.losses.Huber)


def test_forecaster_config_errors_and_json_round_trip():
    with pytest.raises(ConfigError, match="units: expected a non-empty list"):
        ForecasterConfig(units=())
    with pytest.raises(ConfigError, match=r"units\[1\]: expected a positive integer"):
        ForecasterConfig(units=(8, 0))
    with pytest.raises(ConfigError, match="output: expected one of"):
        ForecasterConfig(output="recursive")  # type: ignore[arg-type]
    config = TrainSeriesConfig(forecaster=ForecasterConfig(units=(16, 8), output="seq2seq"))
    assert from_json(to_json(config), type(config)) == config


@pytest.mark.parametrize(("output", "horizon"), [("direct", 3), ("seq2seq", 3), ("last", 3)])
def test_residual_lag_starts_from_seasonal_naive_and_learns_the_correction(output, horizon):
    import keras

    from seqline.components.train.forecasters import build_forecaster, compile_forecaster

    config = ForecasterConfig(layer="gru", units=(4,), output=output, residual_lag=4)
    model = build_forecaster(config, 6, 2, horizon, num_future=1)
    rng = np.random.default_rng(0)
    history = rng.normal(size=(64, 6, 2)).astype("float32")
    future = rng.normal(size=(64, horizon, 1)).astype("float32")
    steps = 1 if output == "last" else horizon
    naive = history[:, 2 : 2 + steps, :1]  # 4 steps before each of the S steps ahead
    untrained = model.predict({"history": history, "future": future}, verbose=0)
    np.testing.assert_allclose(untrained, naive, atol=1e-6)  # the head starts at zero
    # The correction is learnt: naive + 0.5 * the future covariate.
    target = naive + 0.5 * future[:, :steps]
    compile_forecaster(model, config, 0.05)
    keras.utils.set_random_seed(1)
    # 64 steps (8 epochs of 8 batches): the trained / naive error ratio is <= 0.1 over seeds
    # 1-3 for every output (it was 40 epochs of 2 batches; the per-epoch overhead dominated).
    model.fit({"history": history, "future": future}, target, epochs=8, batch_size=8, verbose=0)
    trained = model.predict({"history": history, "future": future}, verbose=0)
    assert np.abs(trained - target).mean() < 0.5 * np.abs(naive - target).mean()


def test_residual_lag_must_fit_in_the_history():
    from seqline.components.train.forecasters import build_forecaster

    with pytest.raises(ConfigError, match=r"3 <= residual_lag <= lookback 6.*got 2"):
        build_forecaster(ForecasterConfig(output="direct", residual_lag=2), 6, 2, 3)
    with pytest.raises(ConfigError, match=r"3 <= residual_lag <= lookback 6.*got 7"):
        build_forecaster(ForecasterConfig(output="direct", residual_lag=7), 6, 2, 3)
    with pytest.raises(ConfigError, match="residual_lag"):
        ForecasterConfig(output="sequence", residual_lag=4)


def test_linear_skip_adds_a_linear_forecaster_of_the_target_history():
    from seqline.components.train.forecasters import build_forecaster

    config = ForecasterConfig(layer="gru", units=(4,), output="direct", linear_skip=True)
    model = build_forecaster(config, 6, 3, 5, num_targets=2)
    counts = {layer.name: layer.count_params() for layer in model.layers}
    assert counts["skip_dense"] == (6 * 2 + 1) * 5 * 2  # the L * T target values -> S * T
    # With the recurrent head zeroed, the output is exactly that linear map of the targets.
    head = model.get_layer("head")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    history = np.random.default_rng(0).normal(size=(3, 6, 3)).astype("float32")
    kernel, bias = model.get_layer("skip_dense").get_weights()
    flat = history[:, :, :2].transpose(0, 2, 1).reshape(3, 12)  # column-major, as the layer
    expected = (flat @ kernel + bias).reshape(3, 5, 2)
    np.testing.assert_allclose(model.predict({"history": history}, verbose=0), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="linear_skip"):
        ForecasterConfig(output="sequence", linear_skip=True)


@pytest.mark.parametrize(("output", "horizon"), [("direct", 3), ("seq2seq", 3), ("last", 3)])
def test_level_window_starts_from_seasonal_naive_shifted_by_its_recent_error(output, horizon):
    from seqline.components.train.forecasters import build_forecaster

    config = ForecasterConfig(
        layer="gru", units=(4,), output=output, residual_lag=4, level_window=2
    )
    model = build_forecaster(config, 7, 3, horizon, num_targets=2)
    history = np.random.default_rng(0).normal(size=(5, 7, 3)).astype("float32")
    steps = 1 if output == "last" else horizon
    naive = history[:, 3 : 3 + steps, :2]
    # Seasonal naive's error on the last 2 steps (5, 6) against 4 steps before (1, 2).
    shift = (history[:, 5:7, :2] - history[:, 1:3, :2]).mean(axis=1, keepdims=True)
    untrained = model.predict({"history": history}, verbose=0)
    np.testing.assert_allclose(untrained, naive + shift, atol=1e-5)
    assert model.get_layer("level_steps").count_params() == steps  # one weight per step


def test_level_window_follows_level_shifts_that_seasonal_naive_misses():
    """A season-8 pattern on a level that jumps every 24 steps: seasonal naive repeats the old
    level for a season after each jump; the level-corrected model carries the jump forward.
    (The shift is measured on the last 2 steps and the horizon is 2, so 2 + 2 <= 8: the jump
    it measures happened after the values seasonal naive repeats, as with a day's shift
    against last week on half-hourly data.)"""
    import keras

    from seqline.components.train.forecasters import build_forecaster, compile_forecaster

    rng = np.random.default_rng(3)
    season, window, horizon = 8, 2, 2
    t = np.arange(1200)
    level = np.repeat(rng.normal(scale=2.0, size=len(t) // 24 + 1), 24)[: len(t)]
    noise = rng.normal(scale=0.05, size=len(t))
    series = rng.normal(size=season)[t % season] + level + noise
    lookback = season + window
    starts = np.arange(len(t) - lookback - horizon + 1)
    history = np.stack([series[s : s + lookback] for s in starts])[:, :, None].astype("float32")
    future = np.stack([series[s + lookback : s + lookback + horizon] for s in starts])[:, :, None]
    train, test = slice(0, 900), slice(900, None)
    config = ForecasterConfig(
        layer="gru",
        units=(4,),
        output="direct",
        loss="mae",
        residual_lag=season,
        level_window=window,
    )
    keras.utils.set_random_seed(0)
    model = build_forecaster(config, lookback, 1, horizon)
    compile_forecaster(model, config, 0.01)
    model.fit({"history": history[train]}, future[train], epochs=3, batch_size=64, verbose=0)
    forecast = model.predict({"history": history[test]}, verbose=0)
    naive = history[test, window : window + horizon]
    model_mae = np.abs(forecast - future[test]).mean()
    naive_mae = np.abs(naive - future[test]).mean()
    assert model_mae < 0.7 * naive_mae


def test_level_window_needs_residual_lag_and_room_in_the_history():
    from seqline.components.train.forecasters import build_forecaster

    with pytest.raises(ConfigError, match="level_window: expected 0 unless residual_lag > 0"):
        ForecasterConfig(output="direct", level_window=4)
    with pytest.raises(ConfigError, match="level_window: expected an integer >= 0"):
        ForecasterConfig(output="direct", residual_lag=4, level_window=-1)
    config = ForecasterConfig(output="direct", residual_lag=4, level_window=3)
    with pytest.raises(ConfigError, match=r"residual_lag \+ level_window <= lookback 6.*4 \+ 3"):
        build_forecaster(config, 6, 1, 3)
    assert from_json(to_json(config), type(config)) == config


@pytest.mark.parametrize(("output", "horizon"), [("direct", 3), ("seq2seq", 3), ("last", 3)])
def test_lag_context_feeds_the_rows_naive_copies_and_still_starts_at_naive(output, horizon):
    from seqline.components.train.forecasters import build_forecaster

    config = ForecasterConfig(
        layer="gru", units=(4,), output=output, residual_lag=4, lag_context=True
    )
    model = build_forecaster(config, 6, 2, horizon, num_future=1)
    # The rows 4 steps before each step ahead: history steps 2..4 of 6, every column.
    assert model.get_layer("lag_context").output.shape[1:] == (horizon, 2)
    history = np.random.default_rng(0).normal(size=(5, 6, 2)).astype("float32")
    future = np.random.default_rng(1).normal(size=(5, horizon, 1)).astype("float32")
    steps = 1 if output == "last" else horizon
    untrained = model.predict({"history": history, "future": future}, verbose=0)
    np.testing.assert_allclose(untrained, history[:, 2 : 2 + steps, :1], atol=1e-6)
    # Without a future input the lagged rows are the known inputs on their own.
    assert build_forecaster(config, 6, 2, horizon).get_layer("lag_context") is not None


def test_lag_context_learns_a_correction_that_depends_on_the_conditions_then():
    """target = a season-6 pattern + c**2, c a known covariate drawn afresh every step: naive's
    error at step s is c[s]**2 - c[s-6]**2. The future input gives c[s]; only lag_context puts
    c[s-6] beside it, so only then can the decoder learn the error step by step."""
    import keras

    from seqline.components.train.forecasters import build_forecaster, compile_forecaster

    rng = np.random.default_rng(5)
    season, horizon, lookback = 6, 3, 8
    t = np.arange(1500)
    c = rng.normal(size=len(t))
    series = rng.normal(size=season)[t % season] + c**2
    rows = np.stack([series, c], axis=1).astype("float32")
    starts = np.arange(len(t) - lookback - horizon + 1)
    history = np.stack([rows[s : s + lookback] for s in starts])
    ahead = np.stack([rows[s + lookback : s + lookback + horizon] for s in starts])
    inputs = {"history": history, "future": ahead[:, :, 1:]}
    target = ahead[:, :, :1]
    train, test = slice(0, 1200), slice(1200, None)
    mae = {}
    for lag_context in (False, True):
        config = ForecasterConfig(
            layer="gru", units=(16,), output="seq2seq", residual_lag=season, lag_context=lag_context
        )
        keras.utils.set_random_seed(0)
        model = build_forecaster(config, lookback, 2, horizon, num_future=1)
        compile_forecaster(model, config, 0.01)
        model.fit(
            {k: v[train] for k, v in inputs.items()},
            target[train],
            epochs=15,
            batch_size=32,
            verbose=0,
        )
        forecast = model.predict({k: v[test] for k, v in inputs.items()}, verbose=0)
        mae[lag_context] = float(np.abs(forecast - target[test]).mean())
    naive = float(
        np.abs(
            history[test, lookback - season : lookback - season + horizon, :1] - target[test]
        ).mean()
    )
    assert mae[True] < 0.5 * mae[False] and mae[True] < 0.3 * naive, (mae, naive)


def test_lag_context_needs_residual_lag_covering_the_horizon():
    from seqline.components.train.forecasters import build_forecaster

    with pytest.raises(ConfigError, match="lag_context: expected false unless residual_lag > 0"):
        ForecasterConfig(output="seq2seq", lag_context=True)
    config = ForecasterConfig(output="last", residual_lag=2, lag_context=True)
    with pytest.raises(ConfigError, match=r"lag_context: expected every lag in horizon 3 .. "):
        build_forecaster(config, 6, 1, 3)
    assert from_json(to_json(config), type(config)) == config


def test_lag_context_lists_its_own_lags_each_inside_the_history():
    import keras

    from seqline.components.train.forecasters import build_forecaster

    config = ForecasterConfig(layer="gru", units=(4,), output="seq2seq", lag_context=(3, 5))
    assert config.context_lags == (3, 5)
    model = build_forecaster(config, 6, 2, 3, num_future=1)
    # Both lags' rows (2 columns each) join per step ahead: [batch, H, 2 * 2].
    assert model.get_layer("lag_context").output.shape[1:] == (3, 4)
    assert model.get_layer("lag_context_3").output.shape[1:] == (3, 2)
    history = np.arange(2 * 6 * 2, dtype="float32").reshape(2, 6, 2)
    for k in (3, 5):
        probe = keras.Model(model.input, model.get_layer(f"lag_context_{k}").output)
        rows = probe.predict({"history": history, "future": np.zeros((2, 3, 1))}, verbose=0)
        # Step h (0-based) ahead is history step L + h; k steps before it is L + h - k.
        np.testing.assert_array_equal(rows, history[:, 6 - k : 9 - k])
    assert from_json(to_json(config), type(config)) == config
    with pytest.raises(ConfigError, match=r"every lag in horizon 3 .. lookback 6.*got 7"):
        build_forecaster(ForecasterConfig(output="direct", lag_context=(3, 7)), 6, 1, 3)
    with pytest.raises(ConfigError, match=r"got 2;"):
        build_forecaster(ForecasterConfig(output="direct", lag_context=(2,)), 6, 1, 3)
    with pytest.raises(ConfigError, match="non-empty list of distinct lags"):
        ForecasterConfig(output="direct", lag_context=(3, 3))
    with pytest.raises(ConfigError, match="lag_context"):
        ForecasterConfig(output="direct", lag_context=())
    with pytest.raises(ConfigError, match=r"lag_context\[0\]"):
        ForecasterConfig(output="direct", lag_context=(0,))
    with pytest.raises(ConfigError, match="lag_context: expected false with output 'sequence'"):
        ForecasterConfig(output="sequence", lag_context=(3,))
    # A list from Python is taken as the tuple YAML gives.
    assert ForecasterConfig(output="direct", lag_context=[3, 5]).lag_context == (3, 5)


def test_encoder_steps_runs_the_recurrence_over_the_last_steps_only():
    """L = 8, H = 2, residual_lag 6, encoder_steps 3: the encoder reads steps 5..7 and naive
    copies steps 2 and 3; a change anywhere else changes nothing."""
    from seqline.components.train.forecasters import build_forecaster
    from seqline.components.train.series_step import streamable

    config = ForecasterConfig(
        layer="gru", units=(4,), output="direct", residual_lag=6, encoder_steps=3
    )
    model = build_forecaster(config, 8, 1, 2)
    assert model.get_layer("encoder_window").output.shape[1:] == (3, 1)
    rng = np.random.default_rng(0)
    head = model.get_layer("head")  # starts at zero; random so the encoder's output shows
    head.set_weights([rng.normal(size=w.shape) for w in head.get_weights()])
    history = rng.normal(size=(4, 8, 1)).astype("float32")

    def forecast_with(step: int) -> np.ndarray:
        changed = history.copy()
        changed[:, step, 0] += 5.0
        return model.predict({"history": changed}, verbose=0)[:, :, 0]

    base = model.predict({"history": history}, verbose=0)[:, :, 0]
    np.testing.assert_allclose(forecast_with(4), base, atol=1e-6)  # neither
    np.testing.assert_allclose(forecast_with(3) - base, [[0.0, 5.0]] * 4, atol=1e-5)  # naive
    assert np.abs(forecast_with(6) - base).max() > 1e-3  # the encoder's window
    assert "encoder_steps" in streamable(ForecasterConfig(encoder_steps=3))
    with pytest.raises(ConfigError, match="encoder_steps: expected at most lookback 8"):
        build_forecaster(ForecasterConfig(encoder_steps=9), 8, 1, 2)
    with pytest.raises(ConfigError, match="encoder_steps: expected 0 with output 'sequence'"):
        ForecasterConfig(output="sequence", encoder_steps=2)
    assert from_json(to_json(config), type(config)) == config
