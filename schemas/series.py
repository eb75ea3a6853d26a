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

import decimal
import math
import numbers
import re
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


# Why a value cell is not a number (ingest_series' rejection reasons, also what `seqline forecast
# --history @file.csv` reports).
NON_NUMERIC = "non_numeric"
NON_FINITE = "non_finite"
OUT_OF_RANGE = "out_of_range"

# The largest float32, float(np.finfo(np.float32).max) (written out: this module imports no
# numpy): windows, the model and serving hold values as float32.
FLOAT32_MAX = 3.4028234663852886e38
# The smallest magnitude float32 rounds to inf: FLOAT32_MAX + half its last step (2**104);
# a value between FLOAT32_MAX and this becomes FLOAT32_MAX, within float32's precision.
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103

# A number as a CSV value column writes it: ASCII digits, optional sign, point and exponent;
# nan / inf spelled out (refused as non-finite, with their own reason). float() alone also reads
# "1_000", "١٢" (Arabic-Indic digits) and other text no CSV writer means as a number.
PLAIN_NUMBER_TEXT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
    re.IGNORECASE,
)


class ValueRefused(ValueError):
    """A value cell is not a usable number; `reason` is NON_NUMERIC, NON_FINITE or
    OUT_OF_RANGE."""

    def __init__(self, reason: str, cell: Any) -> None:
        super().__init__(reason)  # not the cell's repr: an int of 5,000 digits has none
        self.reason = reason
        self.cell = cell


def number_value(cell: Any) -> float:
    """The float of one non-empty value cell, as ingest_series reads it and `seqline forecast
    --history @file.csv` too; raises ValueRefused.

    - text: a boolean spelling (boolean_value) is 1.0/0.0; otherwise it must be a plain number
      (PLAIN_NUMBER_TEXT, surrounding spaces ignored), else NON_NUMERIC;
    - bool / numpy bool: 1.0 / 0.0; int, float, numpy numbers, Fraction, Decimal: as float;
      any other type: NON_NUMERIC;
    - NaN or an infinity (spelled nan / inf / -Infinity, or a float one): NON_FINITE;
    - beyond float32's range (|x| >= FLOAT32_OVERFLOW, which float32 rounds to inf), including a
      number written beyond float64 (1e400, 10**400): OUT_OF_RANGE.
    """
    if isinstance(cell, bool) or getattr(getattr(cell, "dtype", None), "kind", "") == "b":
        return 1.0 if cell else 0.0  # a Parquet boolean column (bool, numpy bool)
    if isinstance(cell, str):
        flag = boolean_value(cell)
        if flag is not None:
            return flag
        if not PLAIN_NUMBER_TEXT.fullmatch(cell.strip()):
            raise ValueRefused(NON_NUMERIC, cell)
    # numbers.Real: int, float, numpy numbers, Fraction; Decimal (a Parquet DECIMAL column) is
    # not registered as Real but reads as float the same way.
    elif not isinstance(cell, numbers.Real | decimal.Decimal):
        raise ValueRefused(NON_NUMERIC, cell)
    try:
        value = float(cell)
    except ValueError as exc:
        raise ValueRefused(NON_NUMERIC, cell) from exc
    except OverflowError as exc:  # an int or Fraction beyond float64
        raise ValueRefused(OUT_OF_RANGE, cell) from exc
    if math.isinf(value) and _written_finite(cell):
        # float() overflowed: "1e400" is a finite number too large, not an infinity.
        raise ValueRefused(OUT_OF_RANGE, cell)
    if not math.isfinite(value):
        raise ValueRefused(NON_FINITE, cell)
    if abs(value) >= FLOAT32_OVERFLOW:
        raise ValueRefused(OUT_OF_RANGE, cell)
    return value


def _written_finite(cell: Any) -> bool:
    """The cell writes a finite number (digits, not nan/inf), whatever float() made of it."""
    if isinstance(cell, decimal.Decimal):
        return cell.is_finite()
    if isinstance(cell, str):
        return any(c.isdigit() for c in cell)
    return False


def series_id_text(cell: Any) -> str | None:
    """The series id of a cell, or None when it is missing: the one rule of ingest_series and
    the forecasting clients (which send what they are given through it).

    - None, or a NaN (float, numpy or Decimal): missing;
    - text (str, or UTF-8 bytes): stripped of surrounding whitespace, kept as written otherwise
      (a CSV id "1.0" is series "1.0"); empty after stripping: missing;
    - an integral float or Decimal: its integer text (1.0, np.float64(1.0), Decimal("2.00") ->
      "1", "2"), as the integer column would give: pandas stores integer ids with a gap as
      float64;
    - any other number (int, 2.5, inf): its text (str()), as is any other value.
    """
    if cell is None:
        return None
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", "surrogateescape")
    if isinstance(cell, str):
        return cell.strip() or None
    if isinstance(cell, decimal.Decimal):
        if cell.is_nan():
            return None
        if cell.is_finite() and cell == cell.to_integral_value():
            return str(int(cell))
    elif isinstance(cell, numbers.Real) and not isinstance(cell, numbers.Integral):
        try:
            value = float(cell)
        except OverflowError:  # a Fraction beyond float64: its text
            return str(cell)
        if math.isnan(value):
            return None
        if value.is_integer():  # finite: inf.is_integer() is False
            return str(int(value))
    return str(cell).strip() or None


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
