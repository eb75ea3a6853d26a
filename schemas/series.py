"""The windowed time-series example contract shared by ingest_series, transform, train, evaluate
and serving.

ingest_series writes one tf.Example per sliding window (lookback L, horizon H) to
`{examples uri}/{split}/data-*.tfrecord.gz`, with these features:

    series_id          bytes  [1]   the series key ("" when the data has a single series)
    window_end         int64  [1]   timestamp (epoch seconds) of the last history step
    history/{column}   float  [L]   raw values of each input column (target first, then
                                    covariates), oldest first, original units
    future/{target}    float  [H]   raw values of each target column for the H steps after
                                    window_end (absent at serving time)
    future/{covariate} float  [H]   for each declared future covariate (known in advance,
                                    e.g. a temperature forecast): its values over the same
                                    H steps (required at serving time too)
    future_observed    int64  [H]   1 where the step after window_end was a row of the source,
                                    0 where ingest filled a gap there (interpolate / ffill):
                                    evaluate scores observed targets only. Not a model input
                                    (transform's spec leaves it out, serving never needs it);
                                    windows written before it existed read as all observed

The Examples artifact's properties for series add:
    {"kind": "series", "lookback": L, "horizon": H, "stride": S, "frequency": "30min",
     "targets": [...], "covariates": [...] (future covariates included),
     "future_covariates": [...], "series_ids": [...] (or [] for one series),
     "splits": [...], "counts": {...} (windows per split), "points": {split: n},
     "gaps": {...}, "rejected": n, "input": n}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SERIES_ID_KEY = "series_id"
WINDOW_END_KEY = "window_end"
HISTORY_PREFIX = "history/"
FUTURE_PREFIX = "future/"
FUTURE_OBSERVED_KEY = "future_observed"

# Boolean spellings a value column may hold (a holiday flag, an on/off sensor), read as 1/0 by
# ingest_series and by `seqline forecast --history @file.csv`: the text is stripped and
# lower-cased first, so True/TRUE/ true all count; 0/1 already parse as numbers.
BOOLEAN_TEXT: dict[str, float] = {"true": 1.0, "false": 0.0}


def boolean_value(text: str) -> float | None:
    """1.0 / 0.0 for a boolean spelling (BOOLEAN_TEXT, any letter case, surrounding spaces
    ignored), None for any other text."""
    return BOOLEAN_TEXT.get(text.strip().lower())


def history_key(column: str) -> str:
    return f"{HISTORY_PREFIX}{column}"


def future_key(column: str) -> str:
    return f"{FUTURE_PREFIX}{column}"


def raw_series_feature_spec(
    targets: Sequence[str],
    covariates: Sequence[str],
    lookback: int,
    horizon: int,
    with_future: bool = True,
    future_covariates: Sequence[str] = (),
) -> dict[str, Any]:
    """tf.io feature spec of a raw window example (see the module docstring).

    `with_future` covers the targets' future (absent at serving time); the future covariates'
    `future/{column}` [H] are always in the spec, as serving needs them too."""
    import tensorflow as tf

    spec: dict[str, Any] = {
        SERIES_ID_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        WINDOW_END_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
    for column in (*targets, *covariates):
        spec[history_key(column)] = tf.io.FixedLenFeature([lookback], tf.float32)
    if with_future:
        for column in targets:
            spec[future_key(column)] = tf.io.FixedLenFeature([horizon], tf.float32)
    for column in future_covariates:
        spec[future_key(column)] = tf.io.FixedLenFeature([horizon], tf.float32)
    return spec


def future_observed_spec(horizon: int) -> dict[str, Any]:
    """tf.io feature spec of the `future_observed` mask [H] (int64, 1 = observed). A window
    without it (written before ingest recorded it) parses as all observed."""
    import tensorflow as tf

    return {
        FUTURE_OBSERVED_KEY: tf.io.FixedLenFeature([horizon], tf.int64, default_value=[1] * horizon)
    }
