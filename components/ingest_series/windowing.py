"""Sliding windows over a regular segment, generated lazily, and their tf.Example encoding.

A window starting at step i of a segment of m steps holds history steps [i, i + L) of every
input column and future steps [i + L, i + L + H) of every target and future covariate, with
a flag per future step saying whether it was a row of the source or filled by ingest;
window_end is the timestamp of step i + L - 1. Starts are 0, S, 2S, ... while i + L + H <= m.
`iter_windows` is a generator: it slices one window at a time out of the segment's arrays,
so a million-point series never has more than one window (and one chunk of rows as lists) in
memory; Beam writes each window as soon as it is yielded.

The feature layout is schemas/series.py's contract. The encoder fills one reusable
tf.train.Example in place (about 15x faster than building a new message per window, which
matters at a million windows).

Values are written as float32 (tf.train.FloatList), the precision transform, the model and
serving work in. `float32_losses` finds the columns of a series that float32 cannot hold
faithfully (a counter at 1e12 moving by +-1000: float32's step there is 65,536, so 200
distinct values become one); ingest fails naming them rather than train a model on a constant.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from seqline.components.ingest_series.regularize import Segment
from seqline.schemas.series import (
    FUTURE_OBSERVED_KEY,
    SERIES_ID_KEY,
    WINDOW_END_KEY,
    future_key,
    history_key,
)

MICROS_PER_SECOND = 1_000_000


def window_count(m: int, lookback: int, horizon: int, stride: int) -> int:
    """How many windows a segment of m steps yields."""
    span = lookback + horizon
    return 0 if m < span else (m - span) // stride + 1


def iter_windows(
    segment: Segment,
    lookback: int,
    horizon: int,
    stride: int,
    future_columns: Sequence[int],
    chunk_windows: int = 4096,
) -> Iterator[tuple[int, list[list[float]], list[list[float]], list[int]]]:
    """Yields (window_end epoch seconds, history per column [k][L], future per future column
    [len(future_columns)][H], observed [H]: 1 where the future step was a row of the source,
    0 where it was filled) for each window of `segment`; `future_columns` are the indices
    of the columns written over the horizon (the targets, then any future covariates).

    Works through the segment `chunk_windows` windows at a time: each chunk's rows become
    Python lists once (slicing lists is much cheaper per window than slicing numpy), so the
    extra memory is one chunk's rows, whatever the segment's length.
    """
    m = len(segment.timestamps)
    count = window_count(m, lookback, horizon, stride)
    observed_steps = segment.observed_steps()  # all ones when None: build them once, not per chunk
    for first in range(0, count, chunk_windows):
        last = min(count, first + chunk_windows)  # windows [first, last) of the segment
        row0 = first * stride
        row1 = (last - 1) * stride + lookback + horizon
        columns = segment.values[row0:row1].T.tolist()
        ends = (segment.timestamps[row0:row1] // MICROS_PER_SECOND).tolist()
        observed = observed_steps[row0:row1].astype(int).tolist()
        for n in range(last - first):
            start = n * stride
            mid = start + lookback
            yield (
                ends[mid - 1],
                [column[start:mid] for column in columns],
                [columns[c][mid : mid + horizon] for c in future_columns],
                observed[mid : mid + horizon],
            )


class WindowEncoder:
    """Serializes windows of one series as tf.Example bytes (features per schemas/series.py).

    Args:
        series_id: the series key ("" for a single series).
        columns: input column names, targets first then covariates.
        targets: the columns written over the horizon (`future/{column}`): the targets, then
            any future covariates.
        lookback, horizon: L and H (the float list lengths).
    """

    def __init__(
        self,
        series_id: str,
        columns: Sequence[str],
        targets: Sequence[str],
        lookback: int,
        horizon: int,
    ) -> None:
        import tensorflow as tf  # noqa: PLC0415 — only writing workers pay for TensorFlow

        self._example = tf.train.Example()
        feature = self._example.features.feature
        feature[SERIES_ID_KEY].bytes_list.value.append(series_id.encode("utf-8"))
        self._end = feature[WINDOW_END_KEY].int64_list.value
        self._end.append(0)
        self._history = []
        for column in columns:
            values = feature[history_key(column)].float_list.value
            values.extend([0.0] * lookback)
            self._history.append(values)
        self._future = []
        for column in targets:
            values = feature[future_key(column)].float_list.value
            values.extend([0.0] * horizon)
            self._future.append(values)
        self._observed = feature[FUTURE_OBSERVED_KEY].int64_list.value
        self._observed.extend([1] * horizon)

    def encode(
        self,
        window_end: int,
        history: list[list[float]],
        future: list[list[float]],
        observed: list[int] | None = None,
    ) -> bytes:
        """The serialized tf.Example of one window (see iter_windows for the arguments;
        `observed` None = every future step observed)."""
        self._end[0] = window_end
        for target, values in zip(self._history, history, strict=True):
            target[:] = values
        for target, values in zip(self._future, future, strict=True):
            target[:] = values
        self._observed[:] = [1] * len(self._observed) if observed is None else observed
        return self._example.SerializeToString(deterministic=True)


# The largest change float32 may make to a value, as a fraction of its column's range within
# the series (max - min): 1e-3 keeps a series' shape to 0.1% of its swing.
FLOAT32_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Float32Loss:
    """A column of one series that float32 does not hold faithfully.

    Attributes:
        column: the column name.
        low, high: its smallest and largest value (float64, as read).
        max_error: the largest |x - float32(x)| over its values.
        distinct, distinct_float32: how many distinct values it has, before and after.
    """

    column: str
    low: float
    high: float
    max_error: float
    distinct: int
    distinct_float32: int

    @property
    def relative_error(self) -> float:
        """max_error as a fraction of the range (high - low > 0)."""
        return self.max_error / (self.high - self.low)


def float32_losses(
    columns: Sequence[str], values: np.ndarray, tolerance: float = FLOAT32_TOLERANCE
) -> list[Float32Loss]:
    """The columns of `values` (float64 [n, k], one series) whose float32 round trip moves a
    value by more than `tolerance` x the column's range. A constant column loses nothing
    that matters (its range is 0) and is never reported."""
    out = []
    for index, column in enumerate(columns):
        x = np.asarray(values[:, index], dtype=np.float64)
        if x.size == 0:
            continue
        low, high = float(x.min()), float(x.max())
        if not high > low:
            continue
        rounded = x.astype(np.float32).astype(np.float64)
        error = float(np.max(np.abs(rounded - x)))
        if error > tolerance * (high - low):
            out.append(
                Float32Loss(
                    column, low, high, error, int(np.unique(x).size), int(np.unique(rounded).size)
                )
            )
    return out
