"""Recurrent forecasters built from a ForecasterConfig, and what they are trained on.

Pure builders: like models.build_text_model they take the Keras module as an argument, so the
same code builds a Keras 3 model (everywhere seqline can) or a tf_keras model (multi-worker
training, strategy.py) with identical layers in identical order.

Every forecaster takes {"history": float32 [batch, L, F]} (scaled, targets first then
covariates, then calendar features) and returns float32 [batch, S, T] (scaled targets), S
depending on `output`. With known-future inputs (future covariates and/or calendar features
over the horizon, G columns) it also takes {"future": float32 [batch, H, G]}, which joins
after the encoder (`future_join`, below):

    last      S = 1   encoder -> Dense(T)                   many-to-one, the next step
    direct    S = H   encoder -> Dense(H * T) -> Reshape    direct multi-step
    seq2seq   S = H   encoder -> RepeatVector(H) -> decoder(return_sequences)
                      -> TimeDistributed(Dense(T))          sequence-to-sequence
    sequence  S = L   encoder(return_sequences) -> TimeDistributed(Dense(T)): at every input
                      step, the next value (trained on the history shifted by one); the
                      forecast is the last step's prediction, so 1 step ahead

Where the future joins: "last" concatenates the first horizon step's G values to the encoder
state before Dense(T); "direct" concatenates all H * G (flattened); "seq2seq" concatenates each
step's G values to the repeated state, so the decoder reads step h's covariates at step h.
"sequence" predicts inside the history and cannot use them (ConfigError).

With `residual_lag` k the forecast is the history's targets k steps earlier (seasonal naive,
cropped out of the input by layers, no Lambda) plus the network's output, whose head starts at
zero: the network learns only what seasonal naive gets wrong.

With `level_window` w as well, seasonal naive is level-corrected: the mean of its errors over
the last w history steps, e = mean_i(y[t-i] - y[t-i-k]) for i < w (per target), is added to
every step ahead with a weight per step (Dense(S) without bias, starting at 1), so training
starts at "last week's values shifted by today's change since last week" and learns how far
ahead that shift carries. Cropping / Subtract / pooling layers only, no Lambda.

With `encoder_steps` n the encoder reads only the last n history steps (Cropping1D
"encoder_window"); the lags above still read the whole window.

With `linear_skip` a Dense(S * T) on the flattened target history (a linear autoregressive
forecaster, LSTNet's highway) is added to the output, so the network only has to model what a
linear forecaster from the last L steps misses.

The encoder is len(units) stacked recurrent layers (all but the last return sequences; with
"sequence" all do), each optionally Bidirectional, each but the last followed by
Dropout(stacked_dropout) when that is > 0, then Dropout(dropout). Parameter counts are Keras's
own (tests/components/train/test_train_forecasters.py reproduces the seed tutorials' figures:
on (10 steps, 5 features) SimpleRNN(64) 4,480, LSTM(64) 17,920, GRU(64) 13,632, ...).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import keras

from seqline.components.train.config import ForecasterConfig
from seqline.components.train.forecaster_windows import check_lags_fit, output_steps
from seqline.components.train.weight_averaging import adam
from seqline.pipeline.errors import ConfigError

HISTORY_INPUT = "history"
FUTURE_INPUT = "future"
_LAYER_CLASS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _recurrent_layer(
    km: ModuleType, config: ForecasterConfig, units: int, return_sequences: bool, name: str
) -> Any:
    kwargs: dict[str, Any] = {
        "units": units,
        "activation": config.activation,
        "use_bias": config.use_bias,
        "recurrent_dropout": config.recurrent_dropout,
        "unroll": config.unroll,
        "return_sequences": return_sequences,
    }
    if config.layer != "simple_rnn":
        kwargs["recurrent_activation"] = config.recurrent_activation
    if config.layer == "gru":
        kwargs["reset_after"] = config.reset_after
    layer_class = getattr(km.layers, _LAYER_CLASS[config.layer])
    if config.bidirectional:
        return km.layers.Bidirectional(layer_class(**kwargs), name=f"bi_{name}")
    return layer_class(name=name, **kwargs)


def build_forecaster(
    config: ForecasterConfig,
    lookback: int,
    num_features: int,
    horizon: int,
    num_targets: int = 1,
    keras_module: ModuleType = keras,
    *,
    num_future: int = 0,
) -> Any:
    """Builds (does not compile) the forecaster; see the module docstring.

    Args:
        config: the architecture.
        lookback: L, input steps.
        num_features: F, input columns (targets first, then covariates).
        horizon: H, the steps the data's windows hold after the history.
        num_targets: T (default 1).
        keras_module: `keras` (Keras 3, default) or `tf_keras`.
        num_future: G, known-future columns per horizon step (default 0: no "future" input).

    Returns:
        A functional model {"history": float32 [batch, L, F][, "future": float32 [batch, H,
        G]]} -> float32 [batch, S, T]. Layer names: "{layer}_{i}" (or "bi_{layer}_{i}") for
        encoder layer i, "dropout_{i}" after it (stacked_dropout), "decoder" (seq2seq),
        "dropout", "head".
    """
    if lookback < 1 or num_features < 1 or horizon < 1 or not 1 <= num_targets <= num_features:
        raise ConfigError(
            f"series windows: expected lookback, features and horizon >= 1 and 1 <= targets <= "
            f"features, got lookback={lookback}, features={num_features}, horizon={horizon}, "
            f"targets={num_targets}; rerun ingest_series / transform"
        )
    if num_future and config.output == "sequence":
        raise ConfigError(
            f"forecaster.output: 'sequence' predicts inside the history and cannot use the "
            f"{num_future} known-future column(s) (future covariates / calendar features); use "
            "output: direct or seq2seq"
        )
    check_lags_fit(config, lookback, horizon)
    steps = output_steps(config.output, horizon)
    lag, level = config.residual_lag, config.level_window
    km = keras_module
    head_init = "zeros" if lag else "glorot_uniform"
    history = km.Input(shape=(lookback, num_features), dtype="float32", name=HISTORY_INPUT)
    inputs = {HISTORY_INPUT: history}
    future = None
    if num_future:
        future = km.Input(shape=(horizon, num_future), dtype="float32", name=FUTURE_INPUT)
        inputs[FUTURE_INPUT] = future
    # What the head or decoder sees per step ahead: the known-future rows, and with lag_context
    # the history rows each lag's naive values come from ([batch, H, G (+ F * lags)]).
    known = future
    lags = config.context_lags
    if lags:
        crops = [
            km.layers.Cropping1D(
                (lookback - k, k - horizon),
                name="lag_context" if len(lags) == 1 else f"lag_context_{k}",
            )(history)
            for k in lags
        ]
        lagged = (
            crops[0]
            if len(crops) == 1
            else km.layers.Concatenate(name="lag_context")(crops)  # [batch, H, F * lags]
        )
        known = (
            lagged if known is None else km.layers.Concatenate(name="known_join")([known, lagged])
        )
    known_width = int(known.shape[-1]) if known is not None else 0
    x = history
    if 0 < config.encoder_steps < lookback:
        x = km.layers.Cropping1D((lookback - config.encoder_steps, 0), name="encoder_window")(x)
    last = len(config.units) - 1
    for i, units in enumerate(config.units):
        return_sequences = i < last or config.output == "sequence"
        x = _recurrent_layer(km, config, units, return_sequences, f"{config.layer}_{i}")(x)
        if i < last and config.stacked_dropout > 0:
            x = km.layers.Dropout(config.stacked_dropout, name=f"dropout_{i}")(x)
    x = km.layers.Dropout(config.dropout, name="dropout")(x)
    if config.output == "last":
        if known is not None:
            first = km.layers.Cropping1D((0, horizon - 1), name="future_first")(known)
            first = km.layers.Reshape((known_width,), name="future_flat")(first)
            x = km.layers.Concatenate(name="future_join")([x, first])
        y = km.layers.Dense(num_targets, kernel_initializer=head_init, name="head")(x)
        y = km.layers.Reshape((1, num_targets), name="steps")(y)
    elif config.output == "direct":
        if known is not None:
            flat = km.layers.Reshape((horizon * known_width,), name="future_flat")(known)
            x = km.layers.Concatenate(name="future_join")([x, flat])
        y = km.layers.Dense(horizon * num_targets, kernel_initializer=head_init, name="head")(x)
        y = km.layers.Reshape((horizon, num_targets), name="steps")(y)
    elif config.output == "seq2seq":
        x = km.layers.RepeatVector(horizon, name="repeat")(x)
        if known is not None:
            x = km.layers.Concatenate(name="future_join")([x, known])
        x = _recurrent_layer(km, config, config.units[-1], True, "decoder")(x)
        head = km.layers.Dense(num_targets, kernel_initializer=head_init)
        y = km.layers.TimeDistributed(head, name="head")(x)
    else:  # "sequence"
        y = km.layers.TimeDistributed(km.layers.Dense(num_targets), name="head")(x)
    if lag:
        naive = _lagged_targets(km, history, lag, steps, num_targets)
        parts = [y, naive]
        if level:
            parts.append(_level_shift(km, history, lag, level, steps, num_targets))
        y = km.layers.Add(name="residual")(parts)
    if config.linear_skip:
        y = km.layers.Add(name="linear_skip")([y, _linear_skip(km, history, steps, num_targets)])
    return km.Model(inputs=inputs, outputs=y, name="forecaster")


def _linear_skip(km: ModuleType, history: Any, steps: int, num_targets: int) -> Any:
    """[batch, S, T]: Dense(S * T) over the L * T target values of the history."""
    lookback, features = int(history.shape[1]), int(history.shape[2])
    x = km.layers.Permute((2, 1), name="skip_columns")(history)  # [batch, F, L]
    x = km.layers.Cropping1D((0, features - num_targets), name="skip_targets")(x)
    x = km.layers.Reshape((num_targets * lookback,), name="skip_flat")(x)
    x = km.layers.Dense(steps * num_targets, name="skip_dense")(x)
    return km.layers.Reshape((steps, num_targets), name="skip_steps")(x)


def _lagged_targets(km: ModuleType, history: Any, lag: int, steps: int, num_targets: int) -> Any:
    """[batch, S, T]: the target columns at history steps L - lag .. L - lag + S - 1 (the
    seasonal naive forecast of the S steps ahead), from cropping layers only."""
    lookback, features = int(history.shape[1]), int(history.shape[2])
    x = km.layers.Cropping1D((lookback - lag, lag - steps), name="lag_steps")(history)
    x = km.layers.Permute((2, 1), name="lag_columns")(x)  # [batch, F, S]
    x = km.layers.Cropping1D((0, features - num_targets), name="lag_targets")(x)
    return km.layers.Permute((2, 1), name="lag_naive")(x)  # [batch, S, T]


def _level_shift(
    km: ModuleType, history: Any, lag: int, window: int, steps: int, num_targets: int
) -> Any:
    """[batch, S, T]: seasonal naive's mean error over the last `window` history steps (the
    target columns minus their values `lag` steps earlier), times a per-step weight that
    starts at 1 ("level_steps", Dense(S) without bias, shared by the targets)."""
    lookback, features = int(history.shape[1]), int(history.shape[2])
    recent = km.layers.Cropping1D((lookback - window, 0), name="level_recent")(history)
    before = km.layers.Cropping1D((lookback - window - lag, lag), name="level_before")(history)
    error = km.layers.Subtract(name="level_error")([recent, before])  # [batch, w, F]
    mean = km.layers.GlobalAveragePooling1D(name="level_mean")(error)  # [batch, F]
    mean = km.layers.Reshape((features, 1), name="level_columns")(mean)
    mean = km.layers.Cropping1D((0, features - num_targets), name="level_targets")(mean)
    shift = km.layers.Dense(steps, use_bias=False, kernel_initializer="ones", name="level_steps")(
        mean
    )  # [batch, T, S]
    return km.layers.Permute((2, 1), name="level_shift")(shift)  # [batch, S, T]


def make_loss(config: ForecasterConfig, keras_module: ModuleType = keras) -> Any:
    """The configured Keras loss: MeanSquaredError, MeanAbsoluteError or Huber(delta)."""
    km = keras_module
    if config.loss == "mse":
        return km.losses.MeanSquaredError()
    if config.loss == "mae":
        return km.losses.MeanAbsoluteError()
    return km.losses.Huber(delta=config.huber_delta)


def compile_forecaster(
    model: Any,
    config: ForecasterConfig,
    learning_rate: float,
    keras_module: ModuleType = keras,
    ema: float = 0.0,
) -> None:
    """Compiles with Adam (averaging the weights with momentum `ema` when > 0, see
    weight_averaging.py), the configured loss, and MAE / RMSE metrics (in scaled units)."""
    km = keras_module
    model.compile(
        optimizer=adam(km, learning_rate, ema),
        loss=make_loss(config, km),
        metrics=[
            km.metrics.MeanAbsoluteError(name="mae"),
            km.metrics.RootMeanSquaredError(name="rmse"),
        ],
    )


def training_target(output: str, history: Any, target: Any, num_targets: int) -> Any:
    """What the model is fitted to, from a batch's scaled history and future.

    Args:
        output: ForecasterConfig.output.
        history: float32 [batch, L, F] (targets are the first T columns).
        target: float32 [batch, H, T].
        num_targets: T.

    Returns:
        float32 [batch, S, T]: the next step for "last", all H for "direct"/"seq2seq", and for
        "sequence" the history's targets shifted by one step plus the first future step.
    """
    import tensorflow as tf

    if output == "last":
        return target[:, :1, :]
    if output == "sequence":
        return tf.concat([history[:, 1:, :num_targets], target[:, :1, :]], axis=1)
    return target


def forecast_from_output(output: str, predictions: Any) -> Any:
    """Model output [batch, S, T] -> the forecast [batch, steps, T] (last step for "sequence")."""
    return predictions[:, -1:, :] if output == "sequence" else predictions
