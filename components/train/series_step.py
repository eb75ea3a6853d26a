"""Streaming signatures for a forecaster: one new point in, the forecast and the next state out.

The window signature ("forecast", series_export.py) re-runs the recurrent encoder over all L
steps for every request. A recurrent encoder only ever needs its last hidden state, so a client
that keeps that state can send one point at a time and the server does O(1) work per point
(independent of L) while staying stateless: the state travels with the request.

    step_start(series_id: tf.string [B])            -> state float32 [B, D]
    step(value: float32 [B, F], state: float32 [B, D])
                                                     -> forecast float32 [B, S] (or [B, S, T])
                                                        state    float32 [B, D]

`value` is one raw time step (original units; targets first, then covariates, as the window
signature's history columns). For a single series, pass series_id "" (one per stream).

The state is one opaque vector per stream, laid out as

    [ identity [2] | h_0 (, c_0) | h_1 (, c_1) | ... | offset [F] | scale [F] ]

the model's identity (model_identity: two 24-bit pieces of a digest of the exported weights and
architecture, exact in float32, first so that a state of any width can be checked), the
recurrent state of every encoder layer (LSTM has h and c, GRU and SimpleRNN only h), then the
scaler of the stream's series. D is step_start's output width; `step` takes a state of any
width [B, None] so that one made by another model is refused by its identity, not by its shape.
step_start writes the identity, fills the scaler from the TFT graph once per stream (a
per-series model looks series_id up there; an unknown id gets the global statistics, as with
the window signature) and zeroes the recurrent part: the state a Keras RNN starts a window from.
Applying `step` to the L points of a window, starting from `step_start`, gives the
window signature's forecast for that window (tests/components/train/test_train_series_step.py).
Past L points the state remembers more than the last L: the model was trained on windows of L
steps from a zero state, so a long-running stream drifts from the window forecast of its last L
points (slightly on the models measured: bench/streaming.py). Clients that need exactly the
window semantics rebuild the state from step_start and re-feed the last L points (O(L);
serving/client/forecasting.py's StepForecaster.restart() keeps them and does it), or use the
window signature. A bare restart from step_start is a zero state with no history, not a window,
and a stream's forecasts before its L-th point come from less than a window (StepForecaster
returns None until then).

`step` refuses (InvalidArgumentError, which a model server returns as INVALID_ARGUMENT / 400),
before any cell runs: value and state with different numbers of rows (one state row per
stream), a NaN/inf value (a stream keeping its state would be poisoned for good), a state whose
identity is not this model's (made by another model version or architecture, or by hand: start
a new stream with step_start), a state with this model's identity but another width (truncated
or altered), and a state of this model whose scale is 0 or not finite.

Not streamable (no step signatures are exported, `streamable` says why): bidirectional encoders,
whose backward direction needs the whole window, seed ensembles (train.ensemble), and the
options listed in `streamable`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from seqline.components.train.config import ForecasterConfig
from seqline.components.transform.series_preprocessing import (
    HISTORY_KEY,
    TARGET_OFFSET_KEY,
    TARGET_SCALE_KEY,
    invert_target_scaling,
)
from seqline.schemas.series import SERIES_ID_KEY, history_key

STEP_START = "step_start"
STEP = "step"
VALUE_INPUT = "value"
SERIES_ID_INPUT = "series_id"
STATE = "state"
FORECAST_OUTPUT = "forecast"
_STATES_PER_LAYER = {"lstm": 2, "gru": 1, "simple_rnn": 1}
# Two float32 slots of 24 bits each: integers below 2**24 are exact in float32.
IDENTITY_SLOTS = 2
_IDENTITY_BITS = 24
RESTART_HINT = "start a new stream with step_start (StepForecaster.restart())"


def streamable(
    config: ForecasterConfig,
    *,
    calendar: bool = False,
    future_covariates: bool = False,
    ensemble_members: int = 1,
) -> str | None:
    """None when step signatures can be built for `config`, else the reason they cannot.

    A step carries only the recurrent state and the scaler, so anything that reads the whole
    window (a backwards pass, the value k steps back, a linear map of the history) or inputs a
    single raw value does not hold (timestamps for calendar features, values over the horizon)
    rules the step form out.
    """
    if ensemble_members > 1:
        # Possible (N states side by side), but not built: the mean model's encoders are
        # nested members, which the step's cells are not read from.
        return (
            f"a seed ensemble of {ensemble_members} members has one encoder state per member, "
            "which the step signature does not carry"
        )
    if config.bidirectional:
        return "a bidirectional encoder reads the window backwards, so it cannot run point by point"
    if config.level_window:
        return "level_window compares the last steps with a season before, which a state lacks"
    if config.residual_lag:
        return "residual_lag adds the value k steps back, which a step's state does not hold"
    if config.encoder_steps:
        return "encoder_steps reads only the last steps of the window, which a state cannot forget"
    if config.linear_skip:
        return "linear_skip maps the whole target history, which a step's state does not hold"
    if config.context_lags:
        return "lag_context reads history rows k steps back, which a step's state does not hold"
    if calendar:
        return "calendar features need each step's timestamp, which step does not take"
    if future_covariates:
        return "future covariates are inputs over the horizon, which step does not take"
    return None


@dataclass(frozen=True)
class StateLayout:
    """Where each part of the packed state lives: [identity [2] | recurrent | offset | scale].

    Attributes:
        layers: per encoder layer, (units, number of state tensors: 2 for LSTM, 1 otherwise).
        num_features: F (the scaler holds an offset and a scale per column).
        identity: the model's identity (model_identity), written by step_start and checked by
            step; (0, 0) when not given.
    """

    layers: tuple[tuple[int, int], ...]
    num_features: int
    identity: tuple[int, int] = (0, 0)

    @property
    def recurrent_size(self) -> int:
        return sum(units * count for units, count in self.layers)

    @property
    def size(self) -> int:
        """D, the state's width."""
        return IDENTITY_SLOTS + self.recurrent_size + 2 * self.num_features

    def unpack(self, state: tf.Tensor) -> tuple[list[list[tf.Tensor]], tf.Tensor, tf.Tensor]:
        """state [B, D] -> (per layer, its state tensors [B, units]; offset [B, F]; scale)."""
        layers, at = [], IDENTITY_SLOTS
        for units, count in self.layers:
            layers.append([state[:, at + k * units : at + (k + 1) * units] for k in range(count)])
            at += units * count
        features = self.num_features
        return layers, state[:, at : at + features], state[:, at + features : at + 2 * features]

    def pack(
        self, layers: Sequence[Sequence[tf.Tensor]], offset: tf.Tensor, scale: tf.Tensor
    ) -> Any:
        """The inverse of unpack; the identity slots hold this layout's identity."""
        identity = tf.tile(tf.constant([self.identity], tf.float32), [tf.shape(offset)[0], 1])
        return tf.concat(
            [identity] + [t for states in layers for t in states] + [offset, scale], axis=1
        )


def state_layout(
    config: ForecasterConfig, num_features: int, identity: tuple[int, int] = (0, 0)
) -> StateLayout:
    """The packed state's layout for a forecaster built from `config` over F features."""
    count = _STATES_PER_LAYER[config.layer]
    return StateLayout(tuple((units, count) for units in config.units), num_features, identity)


def model_identity(model: Any, description: str) -> tuple[int, int]:
    """Two integers below 2**24 (exact in float32) from a SHA-256 of `description` (the
    architecture, columns, L, H, scaling) and every weight of `model`: a retrained version
    (same architecture, new weights) gets another identity. Collisions: 1 in 2**48."""
    digest = hashlib.sha256(description.encode())
    for weight in model.get_weights():
        array = np.ascontiguousarray(weight)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    value = int.from_bytes(digest.digest()[:6], "big")
    mask = (1 << _IDENTITY_BITS) - 1
    return (value >> _IDENTITY_BITS) & mask, value & mask


def _require(ok: tf.Tensor, template: str, inputs: Sequence[tf.Tensor]) -> Any:
    """An Assert op raising InvalidArgumentError with `template` formatted with `inputs`."""
    message = tf.strings.format(template, tuple(inputs), summarize=-1)
    return tf.debugging.Assert(ok, [message])


def _first_false(ok: tf.Tensor) -> tf.Tensor:
    """The index of the first False in `ok` [B] (B when none; an empty batch is no error)."""
    return tf.argmin(tf.concat([tf.cast(ok, tf.int32), [0]], axis=0))


def finite_check(name: str, values: tf.Tensor, hint: str) -> Any:
    """Refuses NaN/inf anywhere in `values` [B, ...], naming the input and the first bad row."""
    rows = tf.reshape(tf.math.is_finite(values), [tf.shape(values)[0], -1])
    row_ok = tf.reduce_all(rows, axis=1)
    return _require(
        tf.reduce_all(row_ok),
        f"{name}: expected finite values, got NaN/inf at row {{}} (of {{}}); {hint}",
        [_first_false(row_ok), tf.shape(values)[0]],
    )


class StepFunctions:
    """The two streaming tf.functions of one exported forecaster (module docstring).

    Args:
        model: the Keras 3 forecaster (forecasters.build_forecaster; layer names are read).
        tft_layer: the TFT transform_features_layer() the window signatures use.
        config: the forecaster's architecture (must be streamable).
        targets, covariates: column names in the windows' order.
        lookback, horizon: L and the data's H.
        log1p: the transform applied log1p to the targets.
        identity: the model's identity (model_identity; default: computed from `model`).
    """

    def __init__(
        self,
        model: Any,
        tft_layer: Any,
        config: ForecasterConfig,
        targets: Sequence[str],
        covariates: Sequence[str],
        lookback: int,
        horizon: int,
        log1p: bool,
        identity: tuple[int, int] | None = None,
    ) -> None:
        reason = streamable(config)
        if reason is not None:
            raise ValueError(f"no step signatures: {reason}")
        columns = (*targets, *covariates)
        num_features, num_targets = len(columns), len(targets)
        if identity is None:
            identity = model_identity(
                model, repr((config, tuple(targets), tuple(covariates), lookback, horizon, log1p))
            )
        layout = state_layout(config, num_features, identity)
        cells = [model.get_layer(f"{config.layer}_{i}").cell for i in range(len(config.units))]
        head = model.get_layer("head")
        decoder = model.get_layer("decoder") if config.output == "seq2seq" else None
        is_log = tf.constant([log1p and c in targets for c in columns])

        def scaled_history(values: tf.Tensor, series_id: tf.Tensor) -> dict[str, tf.Tensor]:
            """Runs the TFT graph on a window repeating `values` [B, F] (raw) at every step."""
            features = {SERIES_ID_KEY: series_id}
            for i, column in enumerate(columns):
                features[history_key(column)] = tf.tile(values[:, i : i + 1], [1, lookback])
            out = tft_layer(features)
            history = tf.reshape(
                tf.cast(out[HISTORY_KEY], tf.float32), [-1, lookback, num_features]
            )
            out = dict(out)
            out[HISTORY_KEY] = history[:, 0, :]
            return out

        def affine_probe(x0: tf.Tensor, x1: tf.Tensor, series_id: tf.Tensor) -> Any:
            """(offset, scale) [B, F] of every column from its scaled values at x0 and x1."""
            s0 = scaled_history(x0, series_id)
            s1 = scaled_history(x1, series_id)
            scale = (x1 - x0) / (s1[HISTORY_KEY] - s0[HISTORY_KEY])
            return x0 - s0[HISTORY_KEY] * scale, scale, s0

        # autograph=False on both: their loops and branches run over Python values (layers,
        # config.output) while tracing; AutoGraph would only convert the Keras cells' code.
        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name=SERIES_ID_INPUT)],
            autograph=False,
        )
        def step_start(series_id: tf.Tensor) -> dict[str, tf.Tensor]:
            batch = tf.shape(series_id)[0]
            zeros, ones = tf.zeros([batch, num_features]), tf.ones([batch, num_features])
            # Covariates are scaled affinely: probing at 0 and 1 gives (offset, scale), probing
            # again at offset and offset + scale (scaled values near 0 and 1) makes it exact to
            # float32 precision even when the column's values are large.
            rough_offset, rough_scale, _ = affine_probe(zeros, ones, series_id)
            offset, scale, probe = affine_probe(rough_offset, rough_offset + rough_scale, series_id)
            # Targets (possibly after log1p): the graph's own target_offset / target_scale.
            offset = tf.concat([probe[TARGET_OFFSET_KEY], offset[:, num_targets:]], axis=1)
            scale = tf.concat([probe[TARGET_SCALE_KEY], scale[:, num_targets:]], axis=1)
            recurrent = [
                [tf.zeros([batch, units]) for _ in range(count)] for units, count in layout.layers
            ]
            return {STATE: layout.pack(recurrent, offset, scale)}

        value_spec = tf.TensorSpec([None, num_features], tf.float32, name=VALUE_INPUT)
        # Any width: a state of another model is refused by its identity (checked_inputs).
        state_spec = tf.TensorSpec([None, None], tf.float32, name=STATE)
        expected_identity = tf.constant(layout.identity, tf.float32)

        def checked_inputs(value: tf.Tensor, state: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            """value and state [B, D], after the checks (module docstring), in order."""
            value_rows, state_rows = tf.shape(value)[0], tf.shape(state)[0]
            width = tf.shape(state)[1]
            checks = [
                lambda: _require(
                    tf.equal(value_rows, state_rows),
                    "value has {} rows, state has {}: send one state row per value row (one "
                    "per stream; states come from step_start / the previous step)",
                    [value_rows, state_rows],
                ),
                lambda: finite_check(VALUE_INPUT, value, "fill gaps before streaming"),
                lambda: _require(
                    tf.reduce_all(
                        tf.equal(
                            tf.pad(state, [[0, 0], [0, IDENTITY_SLOTS]])[:, :IDENTITY_SLOTS],
                            expected_identity,
                        )
                    ),
                    "state: made by another model, or not by step_start (its first row has "
                    "identity {} and width {}, this model has identity {} and width "
                    f"{layout.size}); {RESTART_HINT}",
                    [
                        tf.cast(
                            tf.pad(state, [[0, 1], [0, IDENTITY_SLOTS]])[0, :IDENTITY_SLOTS],
                            tf.int64,
                        ),
                        width,
                        tf.cast(expected_identity, tf.int64),
                    ],
                ),
                # This model's identity at another width: cut short or extended after it left
                # step_start / step (a storage column too narrow, an edit), not another model.
                lambda: _require(
                    tf.equal(width, layout.size),
                    "state: its identity matches this model, but it is {} wide and states of "
                    f"this model are {layout.size} wide: a truncated or altered state, not one "
                    f"step_start or step returned (store all {layout.size} values); "
                    f"{RESTART_HINT}",
                    [width],
                ),
            ]
            deps: list[Any] = []
            for check in checks:
                with tf.control_dependencies(deps):
                    deps = [check()]
            with tf.control_dependencies(deps):
                state = tf.ensure_shape(tf.identity(state), [None, layout.size])
            _, _, scale = layout.unpack(state)
            row_ok = tf.logical_and(
                tf.reduce_all(tf.math.is_finite(state), axis=1),
                tf.reduce_all(tf.not_equal(scale, 0.0), axis=1),
            )
            with tf.control_dependencies(deps):
                state_check = _require(
                    tf.reduce_all(row_ok),
                    "state: NaN/inf or a scale of 0 at row {}, so it was not made by "
                    f"step_start; {RESTART_HINT}",
                    [_first_false(row_ok)],
                )
            with tf.control_dependencies([state_check]):
                return tf.identity(value), tf.identity(state)

        @tf.function(input_signature=[value_spec, state_spec], autograph=False)
        def step(value: tf.Tensor, state: tf.Tensor) -> dict[str, tf.Tensor]:
            value, state = checked_inputs(value, state)
            layers, offset, scale = layout.unpack(state)
            x = tf.where(is_log[None, :], tf.math.log1p(value), value)
            x = (x - offset) / scale
            new_layers = []
            for cell, states in zip(cells, layers, strict=True):
                x, new_states = cell(x, list(states), training=False)
                new_states = new_states if isinstance(new_states, list | tuple) else [new_states]
                new_layers.append([tf.cast(s, tf.float32) for s in new_states])
            last = tf.cast(x, tf.float32)
            # Dropout is the identity at inference; the head sees the last step's output.
            if config.output in ("last", "direct"):
                scaled = tf.reshape(
                    head(last), [-1, 1 if config.output == "last" else horizon, num_targets]
                )
            elif config.output == "sequence":
                scaled = head.layer(last)[:, None, :]
            else:  # seq2seq: the decoder reads the encoder's last output H times.
                assert decoder is not None
                repeated = tf.repeat(last[:, None, :], horizon, axis=1)
                scaled = head(decoder(repeated, training=False))
            forecast = invert_target_scaling(
                tf.cast(scaled, tf.float32), offset[:, :num_targets], scale[:, :num_targets], log1p
            )
            if num_targets == 1:
                forecast = forecast[:, :, 0]
            return {FORECAST_OUTPUT: forecast, STATE: layout.pack(new_layers, offset, scale)}

        self.layout = layout
        self.step_start = step_start
        self.step = step


def attach_step_signatures(
    module: Any,
    config: ForecasterConfig,
    targets: Sequence[str],
    covariates: Sequence[str],
    lookback: int,
    horizon: int,
    log1p: bool,
    identity: tuple[int, int] | None = None,
) -> StepFunctions:
    """Adds "step_start" and "step" to a series_export.ForecasterExport: its `step_functions`
    ({signature name: tf.function}) are saved beside the window signatures. `identity`
    (default: model_identity of the module's Keras model) goes into every state."""
    functions = StepFunctions(
        module.keras_model,
        module.tft_layer,
        config,
        targets,
        covariates,
        lookback,
        horizon,
        log1p,
        identity,
    )
    module.step_start, module.step = functions.step_start, functions.step
    module.step_functions = {STEP_START: functions.step_start, STEP: functions.step}
    return functions
