"""The forecaster's serving SavedModel: raw values in, forecasts in original units out.

Like export.py for text: a tf.Module holds the Keras 3 forecaster and the TFT layer
(`transform_features_layer()`, a tf_keras object that cannot sit inside a Keras 3 graph), and
tf.function signatures do scaling -> model -> inverse scaling, so the SavedModel needs nothing
but TensorFlow to load. Signatures:

    serving_default(examples: tf.string [None])
        serialized raw window tf.Example (seqline.schemas.series without the future/ features;
        series_id may be omitted for a single series)
    forecast(history: float32 [None, L, F] [, series_id: tf.string [None]]
             [, window_end: int64 [None]] [, future_covariates: float32 [None, H, K]])
        the last L raw values of each column (targets first, then covariates; original units);
        series_id only when the scaling is per series (an unknown id uses the global scaling);
        window_end (epoch seconds of the last history step) only when the transform derives
        calendar features, which the graph then computes from it; future_covariates only
        when the windows have K future covariates: their raw values over the H steps ahead

both returning
    forecast  float32 [None, S]      (one target) or [None, S, T] (several), original units;
                                     S = H for direct / seq2seq output, 1 for last / sequence

Both refuse NaN/inf in any float input (history, future_covariates, the tf.Example's history/
and future/ features) with an InvalidArgumentError naming it and its first bad row, which a
model server returns as INVALID_ARGUMENT / 400: the training windows had their gaps filled.

The inverse: the transform graph also outputs target_offset / target_scale per example (from
the same analyzers that scaled the history), so forecast = model_output * scale + offset, then
expm1 when the transform applied log1p (series_preprocessing.invert_target_scaling).

Streaming (one point per request, state in and out) is series_step.py's "step_start" / "step",
saved beside these when series_step.attach_step_signatures has added them to the module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from seqline.components.train.export import _describe
from seqline.components.train.forecasters import (
    FUTURE_INPUT,
    HISTORY_INPUT,
    forecast_from_output,
)
from seqline.components.train.series_step import finite_check
from seqline.components.train.session_restorable import hold_keras_model
from seqline.components.transform.series_preprocessing import (
    FUTURE_KEY,
    TARGET_OFFSET_KEY,
    TARGET_SCALE_KEY,
    invert_target_scaling,
)
from seqline.schemas.series import (
    SERIES_ID_KEY,
    WINDOW_END_KEY,
    future_key,
    history_key,
    raw_series_feature_spec,
)

SERVING_DEFAULT = "serving_default"
FORECAST = "forecast"
FORECAST_OUTPUT = "forecast"
# The forecast signature's optional inputs (serving/client/forecasting.py uses the same names).
SERIES_ID_INPUT = "series_id"
WINDOW_END_INPUT = "window_end"
FUTURE_COVARIATES_INPUT = "future_covariates"


class ForecasterExport(tf.Module):
    """Keras 3 forecaster + TFT transform layer, served by two tf.function signatures.

    Args:
        model: Keras 3 model from forecasters.build_forecaster ({"history": [B, L, F]} ->
            [B, S, T], scaled).
        transform_graph_uri: TFT output directory (series TransformGraph artifact).
        targets, covariates: column names, in the windows' order.
        lookback, horizon: L and the data's H (the raw schema's shapes).
        output: ForecasterConfig.output ("sequence" keeps only the last step).
        log1p: the transform applied log1p to the targets.
        per_series: the scaling is per series_id (the forecast signature then takes it).
        future_covariates: the K covariates whose values over the horizon are inputs (default
            none); the forecast signature then takes them as future_covariates [None, H, K].
        calendar: the transform derives calendar features from window_end (default False);
            both signatures then require the timestamp.
    """

    def __init__(
        self,
        model: Any,
        transform_graph_uri: str,
        targets: Sequence[str],
        covariates: Sequence[str],
        lookback: int,
        horizon: int,
        output: str,
        log1p: bool,
        per_series: bool,
        future_covariates: Sequence[str] = (),
        calendar: bool = False,
    ) -> None:
        super().__init__(name="forecaster_export")
        hold_keras_model(self, model)  # restorable by TF Serving's loader: session_restorable.py
        self.tft_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
        columns = (*targets, *covariates)
        num_targets = len(targets)
        # Serving requests carry no targets' future; series_id keeps its "" default.
        raw_spec = serving_raw_spec(
            targets, covariates, lookback, horizon, future_covariates, calendar
        )

        def predict(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            transformed = self.tft_layer(features)
            # Columns per step: F plus any calendar features (static in the TFT output).
            width = int(transformed[HISTORY_INPUT].shape[-1]) // lookback
            model_inputs = {
                HISTORY_INPUT: tf.reshape(
                    tf.cast(transformed[HISTORY_INPUT], tf.float32), [-1, lookback, width]
                )
            }
            if FUTURE_KEY in transformed:
                g = int(transformed[FUTURE_KEY].shape[-1]) // horizon
                model_inputs[FUTURE_INPUT] = tf.reshape(
                    tf.cast(transformed[FUTURE_KEY], tf.float32), [-1, horizon, g]
                )
            scaled = forecast_from_output(
                output, tf.cast(model(model_inputs, training=False), tf.float32)
            )
            offset = tf.reshape(transformed[TARGET_OFFSET_KEY], [-1, num_targets])
            scale = tf.reshape(transformed[TARGET_SCALE_KEY], [-1, num_targets])
            forecast = invert_target_scaling(scaled, offset, scale, log1p)
            if num_targets == 1:
                forecast = forecast[:, :, 0]
            return {FORECAST_OUTPUT: forecast}

        # autograph=False: control flow here is on Python values; AutoGraph's conversion of
        # the TFT and Keras code called costs more than tracing (as in export.py).
        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False
        )
        def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(examples, raw_spec)
            return predict(finite_features(parsed, "tf.Example feature "))

        self.serve_forecast = forecast_signature(
            predict,
            columns,
            lookback,
            horizon,
            per_series=per_series,
            future_covariates=future_covariates,
            calendar=calendar,
        )
        self.serve_examples = serve_examples


def serving_raw_spec(
    targets: Sequence[str],
    covariates: Sequence[str],
    lookback: int,
    horizon: int,
    future_covariates: Sequence[str],
    calendar: bool,
) -> dict[str, Any]:
    """The raw feature spec serving_default parses: no targets' future; window_end only (and
    without a default, so a request without it fails naming it) when calendar features are
    derived from it; the future covariates' `future/{column}` [H] (required)."""
    spec = raw_series_feature_spec(
        targets, covariates, lookback, horizon, with_future=False,
        future_covariates=future_covariates,
    )  # fmt: skip
    if calendar:
        spec[WINDOW_END_KEY] = tf.io.FixedLenFeature([], tf.int64)
    else:
        del spec[WINDOW_END_KEY]
    return spec


def finite_features(features: dict[str, tf.Tensor], prefix: str = "") -> dict[str, tf.Tensor]:
    """`features` after refusing (InvalidArgumentError: INVALID_ARGUMENT from a model server)
    NaN/inf in any float one, named `{prefix}{name}` with its first bad row: training windows
    are gap-filled by ingest, so a non-finite value is a gap the request should have filled."""
    checks = [
        finite_check(
            f"{prefix}{name}",
            tensor,
            "fill gaps before forecasting, as ingest filled the training data (gap_policy)",
        )
        for name, tensor in sorted(features.items())
        if tensor.dtype.is_floating
    ]
    with tf.control_dependencies(checks):
        return {name: tf.identity(tensor) for name, tensor in features.items()}


def forecast_signature(
    predict: Any,
    columns: Sequence[str],
    lookback: int,
    horizon: int,
    *,
    per_series: bool,
    future_covariates: Sequence[str],
    calendar: bool,
) -> Any:
    """The `forecast` tf.function: arrays in (see the module docstring), `predict(raw
    features)` out. Its input signature holds exactly the inputs this model needs, so a
    request missing one (or with a future_covariates tensor shorter than H) is refused by the
    server naming the input."""
    num_features = len(columns)
    future_covariates = tuple(future_covariates)
    specs = [tf.TensorSpec([None, lookback, num_features], tf.float32, name=HISTORY_INPUT)]
    names = [HISTORY_INPUT]
    if per_series:
        specs.append(tf.TensorSpec([None], tf.string, name=SERIES_ID_INPUT))
        names.append(SERIES_ID_INPUT)
    if calendar:
        specs.append(tf.TensorSpec([None], tf.int64, name=WINDOW_END_INPUT))
        names.append(WINDOW_END_INPUT)
    if future_covariates:
        k = len(future_covariates)
        specs.append(tf.TensorSpec([None, horizon, k], tf.float32, name=FUTURE_COVARIATES_INPUT))
        names.append(FUTURE_COVARIATES_INPUT)

    def from_arrays(*args: tf.Tensor) -> dict[str, tf.Tensor]:
        given = finite_features(dict(zip(names, args, strict=True)))
        history = tf.ensure_shape(given[HISTORY_INPUT], [None, lookback, num_features])
        batch = tf.shape(history)[0]
        features = {SERIES_ID_KEY: given.get(SERIES_ID_INPUT, tf.fill([batch], ""))}
        for i, column in enumerate(columns):
            features[history_key(column)] = history[:, :, i]
        if calendar:
            features[WINDOW_END_KEY] = given[WINDOW_END_INPUT]
        if future_covariates:
            future = tf.ensure_shape(
                given[FUTURE_COVARIATES_INPUT], [None, horizon, len(future_covariates)]
            )
            for i, column in enumerate(future_covariates):
                features[future_key(column)] = future[:, :, i]
        return predict(features)

    return tf.function(from_arrays, input_signature=specs, autograph=False)


def _signature_functions(module: ForecasterExport) -> dict[str, Any]:
    """{signature name: tf.function}: the window signatures, plus the streaming ones when
    series_step.attach_step_signatures added them."""
    functions = {SERVING_DEFAULT: module.serve_examples, FORECAST: module.serve_forecast}
    functions.update(getattr(module, "step_functions", {}))
    return functions


def signature_summary(module: ForecasterExport) -> dict[str, dict[str, dict[str, str]]]:
    """{"serving_default": {"inputs": {...}, "outputs": {...}}, "forecast": {...}} as traced
    (and "step_start" / "step" when exported)."""
    summary: dict[str, dict[str, dict[str, str]]] = {}
    for name, fn in _signature_functions(module).items():
        concrete = fn.get_concrete_function()
        args, kwargs = concrete.structured_input_signature
        inputs = dict(kwargs) or {s.name: s for s in args}
        summary[name] = {
            "inputs": {k: _describe(v) for k, v in sorted(inputs.items())},
            "outputs": {k: _describe(v) for k, v in sorted(concrete.structured_outputs.items())},
        }
    return summary


def export_forecaster(module: ForecasterExport, export_dir: str) -> dict[str, Any]:
    """Saves the serving SavedModel to `export_dir`; returns its signature summary."""
    signatures = {
        name: fn.get_concrete_function() for name, fn in _signature_functions(module).items()
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    return signature_summary(module)
