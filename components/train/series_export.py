"""The forecaster's serving SavedModel: raw values in, forecasts in original units out.

Like export.py for text: a tf.Module holds the Keras 3 forecaster and the TFT layer
(`transform_features_layer()`, a tf_keras object that cannot sit inside a Keras 3 graph), and
tf.function signatures do scaling -> model -> inverse scaling, so the SavedModel needs nothing
but TensorFlow to load. Signatures:

    serving_default(examples: tf.string [None])
        serialized raw window tf.Example (seqline.schemas.series without the future/ features;
        series_id may be omitted for a single series)
    forecast(history: float32 [None, L, F] [, series_id: tf.string [None]])
        the last L raw values of each column (targets first, then covariates; original units);
        series_id only when the scaling is per series (an unknown id uses the global scaling)

both returning
    forecast  float32 [None, S]      (one target) or [None, S, T] (several), original units;
                                     S = H for direct / seq2seq output, 1 for last / sequence

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
from seqline.components.train.forecasters import HISTORY_INPUT, forecast_from_output
from seqline.components.transform.series_preprocessing import (
    TARGET_OFFSET_KEY,
    TARGET_SCALE_KEY,
    invert_target_scaling,
)
from seqline.schemas.series import SERIES_ID_KEY, history_key, raw_series_feature_spec

SERVING_DEFAULT = "serving_default"
FORECAST = "forecast"
FORECAST_OUTPUT = "forecast"


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
    ) -> None:
        super().__init__(name="forecaster_export")
        self.model = model
        self.tft_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
        columns = (*targets, *covariates)
        num_features, num_targets = len(columns), len(targets)
        # Serving requests carry no future; series_id keeps its "" default (single series).
        raw_spec = raw_series_feature_spec(
            targets, covariates, lookback, horizon, with_future=False
        )
        raw_spec = {k: v for k, v in raw_spec.items() if k != "window_end"}

        def predict(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            transformed = self.tft_layer(features)
            history = tf.reshape(
                tf.cast(transformed[HISTORY_INPUT], tf.float32), [-1, lookback, num_features]
            )
            scaled = forecast_from_output(
                output, tf.cast(self.model({HISTORY_INPUT: history}, training=False), tf.float32)
            )
            offset = tf.reshape(transformed[TARGET_OFFSET_KEY], [-1, num_targets])
            scale = tf.reshape(transformed[TARGET_SCALE_KEY], [-1, num_targets])
            forecast = invert_target_scaling(scaled, offset, scale, log1p)
            if num_targets == 1:
                forecast = forecast[:, :, 0]
            return {FORECAST_OUTPUT: forecast}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(examples, raw_spec)
            return predict(parsed)

        def from_history(history: tf.Tensor, series_id: tf.Tensor) -> dict[str, tf.Tensor]:
            history = tf.ensure_shape(history, [None, lookback, num_features])
            features = {SERIES_ID_KEY: series_id}
            for i, column in enumerate(columns):
                features[history_key(column)] = history[:, :, i]
            return predict(features)

        history_spec = tf.TensorSpec([None, lookback, num_features], tf.float32, name="history")
        if per_series:

            @tf.function(
                input_signature=[history_spec, tf.TensorSpec([None], tf.string, name="series_id")]
            )
            def serve_forecast(history: tf.Tensor, series_id: tf.Tensor) -> dict[str, tf.Tensor]:
                return from_history(history, series_id)

        else:

            @tf.function(input_signature=[history_spec])
            def serve_forecast(history: tf.Tensor) -> dict[str, tf.Tensor]:
                return from_history(history, tf.fill([tf.shape(history)[0]], ""))

        self.serve_examples = serve_examples
        self.serve_forecast = serve_forecast


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
