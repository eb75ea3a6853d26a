"""Calendar features derived inside the transform graph from each window's timestamps.

The transform graph holds these functions, so training (TFT on Beam) and serving (the same
graph in the exported SavedModel) compute them from the same `window_end` the same way; no
client has to send "hour" or "weekday" columns, and none can send them differently.

Step timestamps of a window (epoch seconds, UTC), with step = the series' frequency:
    history step t (0 <= t < L):  window_end - (L - 1 - t) * step
    horizon step h (0 <= h < H):  window_end + (h + 1) * step

Features per step, in this order (CALENDAR_FEATURES is the menu, config.py checks names):
    hour_of_day  2 columns: sin and cos of 2 pi * (seconds since midnight) / 86400; a smooth
                 circle, so 23:30 sits next to 00:00
    day_of_week  7 columns: one-hot Monday .. Sunday; one-hot rather than sin/cos because a
                 weekly load profile is a step change (weekday vs weekend), not a sinusoid
Times are UTC (ingest_series reads timestamps without an offset as UTC): local-time data
written without an offset gets local calendar features, which is what a demand series wants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from seqline.components.transform.config import CALENDAR_FEATURES

SECONDS_PER_DAY = 86_400
# 1970-01-01 was a Thursday: (days since epoch + 3) mod 7 is 0 on Mondays.
_EPOCH_WEEKDAY_SHIFT = 3


def step_times(window_end: tf.Tensor, offsets: Sequence[int], step_seconds: int) -> tf.Tensor:
    """int64 [batch, len(offsets)]: window_end + offset * step_seconds for each offset.

    Args:
        window_end: int64 [batch] (or [batch, 1]) epoch seconds of the last history step.
        offsets: step offsets relative to window_end (history: -(L-1) .. 0; horizon: 1 .. H).
        step_seconds: length of one step.
    """
    end = tf.reshape(tf.cast(window_end, tf.int64), [-1, 1])
    shift = tf.constant([int(o) * int(step_seconds) for o in offsets], tf.int64)
    return end + shift[None, :]


def calendar_features(times: tf.Tensor, calendar: Sequence[str]) -> tf.Tensor:
    """float32 [batch, steps, calendar_width(calendar)] for int64 [batch, steps] epoch seconds."""
    columns: list[tf.Tensor] = []
    for name in calendar:
        if name == "hour_of_day":
            seconds = tf.cast(tf.math.floormod(times, SECONDS_PER_DAY), tf.float32)
            angle = seconds * (2.0 * math.pi / SECONDS_PER_DAY)
            columns += [tf.sin(angle), tf.cos(angle)]
        elif name == "day_of_week":
            day = tf.math.floordiv(times, SECONDS_PER_DAY) + _EPOCH_WEEKDAY_SHIFT
            weekday = tf.math.floormod(day, 7)
            one_hot = tf.one_hot(weekday, 7, dtype=tf.float32)  # [batch, steps, 7]
            columns += [one_hot[:, :, i] for i in range(7)]
        else:
            raise ValueError(f"unknown calendar feature {name!r}; known: {list(CALENDAR_FEATURES)}")
    return tf.stack(columns, axis=2)


def window_calendar(
    window_end: tf.Tensor, calendar: Sequence[str], step_seconds: int, lookback: int, horizon: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """(history float32 [batch, L, C], horizon float32 [batch, H, C]) calendar features of
    each window, C = calendar_width(calendar)."""
    history = step_times(window_end, range(-(lookback - 1), 1), step_seconds)
    future = step_times(window_end, range(1, horizon + 1), step_seconds)
    return calendar_features(history, calendar), calendar_features(future, calendar)
