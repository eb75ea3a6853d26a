"""Sliding windows over a regular segment, generated lazily, and their tf.Example encoding.

A window starting at step i of a segment of m steps holds history steps [i, i + L) of every
input column and future steps [i + L, i + L + H) of every target and future covariate;
window_end is the timestamp of step i + L - 1. Starts are 0, S, 2S, ... while i + L + H <= m.
`iter_windows` is a generator: it slices one window at a time out of the segment's arrays,
so a million-point series never has more than one window (and one chunk of rows as lists) in
memory; Beam writes each window as soon as it is yielded.

The feature layout is schemas/series.py's contract. The encoder fills one reusable
tf.train.Example in place (about 15x faster than building a new message per window, which
matters at a million windows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from seqline.components.ingest_series.regularize import Segment
from seqline.schemas.series import SERIES_ID_KEY, WINDOW_END_KEY, future_key, history_key

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
) -> Iterator[tuple[int, list[list[float]], list[list[float]]]]:
    """Yields (window_end epoch seconds, history per column [k][L], future per future column
    [len(future_columns)][H]) for each window of `segment`; `future_columns` are the indices
    of the columns written over the horizon (the targets, then any future covariates).

    Works through the segment `chunk_windows` windows at a time: each chunk's rows become
    Python lists once (slicing lists is much cheaper per window than slicing numpy), so the
    extra memory is one chunk's rows, whatever the segment's length.
    """
    m = len(segment.timestamps)
    count = window_count(m, lookback, horizon, stride)
    for first in range(0, count, chunk_windows):
        last = min(count, first + chunk_windows)  # windows [first, last) of the segment
        row0 = first * stride
        row1 = (last - 1) * stride + lookback + horizon
        columns = segment.values[row0:row1].T.tolist()
        ends = (segment.timestamps[row0:row1] // MICROS_PER_SECOND).tolist()
        for n in range(last - first):
            start = n * stride
            mid = start + lookback
            yield (
                ends[mid - 1],
                [column[start:mid] for column in columns],
                [columns[c][mid : mid + horizon] for c in future_columns],
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

    def encode(
        self, window_end: int, history: list[list[float]], future: list[list[float]]
    ) -> bytes:
        """The serialized tf.Example of one window (see iter_windows for the arguments)."""
        self._end[0] = window_end
        for target, values in zip(self._history, history, strict=True):
            target[:] = values
        for target, values in zip(self._future, future, strict=True):
            target[:] = values
        return self._example.SerializeToString(deterministic=True)
