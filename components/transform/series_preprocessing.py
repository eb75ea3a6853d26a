"""The TFT preprocessing_fn for windowed time series: scaling fitted on the train split.

Raw inputs (one window per example, see seqline.schemas.series):
    series_id          tf.string [batch]        "" for a single series
    window_end         int64     [batch]        epoch seconds of the last history step (read
                                                only when calendar features are configured)
    history/{column}   float32   [batch, L]     targets first, then covariates; original units
    future/{target}    float32   [batch, H]     training only (absent at serving time)
    future/{covariate} float32   [batch, H]     each future covariate (training and serving)

Outputs (F = number of targets + covariates, T = number of targets, C = calendar columns
(calendar.py), K = number of future covariates, G = K + C):
    history        float32 [batch, L * (F + C)]  scaled columns, then the calendar features of
                                           each history step; time-major, value of column f at
                                           step t is at index t * (F + C) + f
    future         float32 [batch, H * G]  only when G > 0: the future covariates over the
                                           horizon (scaled with their history's statistics),
                                           then the horizon steps' calendar features;
                                           step-major (h * G + g)
    target         float32 [batch, H * T]  scaled future of the targets, step-major (h * T + t);
                                           only when the future features are among the inputs
    target_offset  float32 [batch, T]      with target_scale, inverts the targets' scaling:
    target_scale   float32 [batch, T]      raw = scaled * scale + offset, then expm1 if log1p

Scaling of a column x (after log1p when configured, targets only):
    minmax  offset = min(x), scale = max(x) - min(x)           -> [0, 1] on the train split
    zscore  offset = mean(x), scale = population std(x)
    none    offset = 0, scale = 1
A zero range (a constant column) gets scale 1 so nothing divides by zero.

The statistics come from TFT analyzers, so they are computed on the analyzed split only (the
transform component analyzes `train_split`) and frozen into the graph as constants. They are
taken over every value of the train windows' histories: windows overlap, so a point inside the
series counts up to L / stride times and the first and last L - 1 points fewer times. min/max are
exact; mean/std are weighted towards the middle of the train period, which for a scaler is
harmless (any affine map the model trains with is inverted exactly).

Per series (`per_series` and the data has series ids): the same statistics per series_id, with
TFT's per-key analyzers (the ones tft.scale_by_min_max_per_key / scale_to_z_score_per_key use;
those public mappers return only the scaled values, and the export needs the offset and scale
themselves to invert the target). A series_id unseen in the train split -- e.g. a new series at
serving time -- falls back to the global statistics instead of TFT's sigmoid/identity fallback,
so its forecast is still in original units.

Series ids are stripped of surrounding whitespace before the analyzers and the lookup, exactly
as ingest_series strips them (Python's str.strip(): `strip_series_ids`), in this one function
that training, evaluation and every serving signature run: "B " at serving time is series "B".
Case is kept (ids are case-sensitive data: "b" is not "B").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import tensorflow as tf
import tensorflow_transform as tft

# The per-key reductions behind tft.scale_by_min_max_per_key / scale_to_z_score_per_key;
# pinned with tensorflow-transform (pyproject: >=1.21,<1.22).
from tensorflow_transform import analyzers as tft_analyzers

from seqline.schemas.series import SERIES_ID_KEY, WINDOW_END_KEY, future_key, history_key

if TYPE_CHECKING:
    from seqline.components.transform.config import TransformSeriesConfig

HISTORY_KEY = "history"
FUTURE_KEY = "future"
TARGET_KEY = "target"
TARGET_OFFSET_KEY = "target_offset"
TARGET_SCALE_KEY = "target_scale"


def _flat_rows(x: tf.Tensor) -> tf.Tensor:
    """[batch] or [batch, 1] -> [batch]."""
    return tf.reshape(x, [-1])


# The characters Python's str.strip() removes (str.isspace(): ASCII whitespace, the separators
# \x1c-\x1f, NEL, NO-BREAK SPACE and the Unicode spaces), which ingest_series strips from ids
# (records.py RowRules.series_id). tf.strings.strip removes ASCII whitespace only.
_PYTHON_WHITESPACE = "".join(
    f"\\x{{{code:x}}}"
    for code in (
        *range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
        0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    )
)  # fmt: skip
_SURROUNDING_WHITESPACE = f"^[{_PYTHON_WHITESPACE}]+|[{_PYTHON_WHITESPACE}]+$"


def strip_series_ids(ids: tf.Tensor) -> tf.Tensor:
    """tf.string ids with surrounding whitespace removed, as Python's str.strip() does."""
    return tf.strings.regex_replace(ids, _SURROUNDING_WHITESPACE, "", replace_global=True)


def _lookup_per_key(
    key: tf.Tensor, key_vocab: tf.Tensor, values: tf.Tensor, fallback: tf.Tensor
) -> tf.Tensor:
    """values[index of key in key_vocab] per row, `fallback` for keys not in key_vocab.

    Args:
        key: tf.string [batch].
        key_vocab: tf.string [K] (an analyzer output; a constant in the final graph).
        values: float [K].
        fallback: float [] used for unknown keys.

    Returns:
        float [batch].
    """
    # A [U, K] comparison of the batch's U distinct keys with the vocabulary avoids a lookup
    # table built from an analyzer output. Comparing every row instead ([batch, K]) cost
    # ~7 ms a lookup at 1,000 rows x 1,000 series, 27 of the ~30 s the transform graph ran on
    # 1.9M windows; windows come series by series, so a batch holds one or two keys.
    unique_keys, position = tf.unique(key)
    matches = tf.equal(unique_keys[:, None], key_vocab[None, :])
    found = tf.reduce_any(matches, axis=1)
    index = tf.argmax(tf.cast(matches, tf.int32), axis=1)
    gathered = tf.gather(tf.cast(values, tf.float32), index)
    per_key = tf.where(found, gathered, tf.cast(fallback, tf.float32))
    return tf.gather(per_key, position)


def _safe_scale(scale: tf.Tensor) -> tf.Tensor:
    """A zero (constant column) or non-finite scale becomes 1."""
    ok = tf.logical_and(tf.math.is_finite(scale), scale > 0)
    return tf.where(ok, scale, tf.ones_like(scale))


def column_offset_and_scale(
    x: tf.Tensor, key: tf.Tensor | None, method: str, name: str
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-row (offset, scale) of one column, from analyzers over the analyzed split.

    Args:
        x: float32 [batch, L], the column's history values (after log1p if configured).
        key: tf.string [batch] series ids, or None for global statistics.
        method: "minmax" | "zscore" | "none".
        name: unique name scope for this column's analyzers.

    Returns:
        (offset float32 [batch], scale float32 [batch]); scaled = (x - offset) / scale.
    """
    batch = tf.shape(x)[0]
    if method == "none":
        return tf.zeros([batch]), tf.ones([batch])
    with tf.name_scope(name):
        if method == "minmax":
            low, high = tft.min(x), tft.max(x)
            global_offset, global_scale = low, high - low
        elif method == "zscore":
            # float64: TFT's per-batch variance in float32 loses ~1e-4 relative precision to
            # cancellation when the mean is large compared with the spread (e.g. after log1p).
            x = tf.cast(x, tf.float64)
            global_offset, global_scale = tft.mean(x), tf.sqrt(tft.var(x))
        else:
            raise ValueError(f"unknown scaling method {method!r}")
        if key is None:
            offset = tf.fill([batch], tf.cast(global_offset, tf.float32))
            scale = tf.fill([batch], tf.cast(global_scale, tf.float32))
        elif method == "minmax":
            key_vocab, low_k, high_k = tft_analyzers._min_and_max_per_key(x, key)
            offset = _lookup_per_key(key, key_vocab, low_k, global_offset)
            scale = _lookup_per_key(key, key_vocab, high_k - low_k, global_scale)
        else:
            key_vocab, mean_k, var_k = tft_analyzers._mean_and_var_per_key(x, key)
            offset = _lookup_per_key(key, key_vocab, mean_k, global_offset)
            scale = _lookup_per_key(key, key_vocab, tf.sqrt(var_k), global_scale)
    return offset, _safe_scale(scale)


def make_series_preprocessing_fn(
    scaling: TransformSeriesConfig,
    targets: Sequence[str],
    covariates: Sequence[str],
    per_series: bool,
    future_covariates: Sequence[str] = (),
    step_seconds: int = 0,
    horizon: int = 0,
) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """The preprocessing_fn for windowed series (see the module docstring).

    Args:
        scaling: method ("minmax" | "zscore" | "none"), log1p (targets only) and the calendar
            features to derive.
        targets: target column names (T >= 1), in the Examples artifact's order.
        covariates: covariate column names (may be empty; future covariates included).
        per_series: statistics per series_id (the caller passes False for a single series).
        future_covariates: the covariates whose horizon values are inputs too (default none).
        step_seconds: the series' step, needed (> 0) when scaling.calendar is not empty.
        horizon: H, needed (> 0) with calendar features (serving inputs have no future to
            read it from).

    Returns:
        preprocessing_fn(raw inputs) -> {"history", "future"?, "target"?, "target_offset",
        "target_scale"}.
    """
    from seqline.components.transform.calendar import window_calendar  # noqa: PLC0415

    targets = tuple(targets)
    columns = (*targets, *covariates)
    future_covariates = tuple(future_covariates)
    calendar = tuple(scaling.calendar)
    if calendar and (step_seconds <= 0 or horizon <= 0):
        raise ValueError(
            f"calendar features {list(calendar)} need step_seconds > 0 and horizon > 0, got "
            f"{step_seconds} and {horizon}"
        )

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # Stripped as ingest strips them, here so training and serving share the one path.
        key = strip_series_ids(_flat_rows(inputs[SERIES_ID_KEY])) if per_series else None
        scaled_history = []
        offsets: dict[str, tf.Tensor] = {}
        scales: dict[str, tf.Tensor] = {}
        for i, column in enumerate(columns):
            x = tf.cast(inputs[history_key(column)], tf.float32)
            if scaling.log1p and column in targets:
                x = tf.math.log1p(x)
            offset, scale = column_offset_and_scale(x, key, scaling.scaling, f"scale_{i}")
            offsets[column], scales[column] = offset, scale
            scaled_history.append((x - offset[:, None]) / scale[:, None])
        # [batch, L, F] -> [batch, L * F], time-major.
        stacked = tf.stack(scaled_history, axis=2)
        lookback = stacked.shape[1]
        future_parts = [
            (tf.cast(inputs[future_key(c)], tf.float32) - offsets[c][:, None]) / scales[c][:, None]
            for c in future_covariates
        ]
        width = len(columns)
        if calendar:
            past, ahead = window_calendar(
                inputs[WINDOW_END_KEY], calendar, step_seconds, lookback, horizon
            )
            stacked = tf.concat([stacked, past], axis=2)
            width += past.shape[2]
        outputs = {
            HISTORY_KEY: tf.reshape(stacked, [-1, lookback * width]),
            TARGET_OFFSET_KEY: tf.stack([offsets[t] for t in targets], axis=1),
            TARGET_SCALE_KEY: tf.stack([scales[t] for t in targets], axis=1),
        }
        future_columns = [tf.stack(future_parts, axis=2)] if future_parts else []
        if calendar:
            future_columns.append(ahead)
        if future_columns:
            future_stack = tf.concat(future_columns, axis=2)  # [batch, H, G]
            steps, g = future_stack.shape[1], future_stack.shape[2]
            outputs[FUTURE_KEY] = tf.reshape(future_stack, [-1, steps * g])
        # Absent at serving time: TFT then prunes the graph to the outputs above.
        if all(future_key(t) in inputs for t in targets):
            future = []
            for t in targets:
                y = tf.cast(inputs[future_key(t)], tf.float32)
                if scaling.log1p:
                    y = tf.math.log1p(y)
                future.append((y - offsets[t][:, None]) / scales[t][:, None])
            stacked_future = tf.stack(future, axis=2)  # [batch, H, T]
            future_steps = stacked_future.shape[1]
            outputs[TARGET_KEY] = tf.reshape(stacked_future, [-1, future_steps * len(targets)])
        return outputs

    return preprocessing_fn


def invert_target_scaling(
    scaled: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor, log1p: bool
) -> tf.Tensor:
    """Scaled target values -> original units.

    Args:
        scaled: float32 [batch, steps, T].
        offset, scale: float32 [batch, T] (the transform's target_offset / target_scale).
        log1p: the targets were log1p-transformed before scaling.

    Returns:
        float32 [batch, steps, T].
    """
    raw = scaled * scale[:, None, :] + offset[:, None, :]
    return tf.math.expm1(raw) if log1p else raw
