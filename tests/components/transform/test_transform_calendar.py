"""Calendar features (transform/calendar.py) on known dates, and the config checks around them
and the known-future forecaster input; fast (no Beam)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from seqline.components.transform.config import TransformSeriesConfig, calendar_width
from seqline.components.transform.series_component import calendar_step_seconds
from seqline.pipeline.errors import ConfigError


def _epoch(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def test_calendar_features_on_known_dates():
    import tensorflow as tf

    from seqline.components.transform.calendar import window_calendar

    # Monday 2024-01-01 06:00 UTC, half-hourly: history back to 05:00, horizon to Tuesday.
    end = _epoch(2024, 1, 1, 6)
    past, ahead = window_calendar(
        tf.constant([end], tf.int64), ("hour_of_day", "day_of_week"), 1800, 3, 37
    )
    past, ahead = past.numpy()[0], ahead.numpy()[0]
    assert past.shape == (3, 9) and ahead.shape == (37, 9)
    # 06:00 is a quarter of the day: sin 1, cos 0; 05:00 and 05:30 come before it.
    np.testing.assert_allclose(past[2, :2], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(past[0, :2], [np.sin(np.pi * 5 / 12), np.cos(np.pi * 5 / 12)], 1e-5)
    np.testing.assert_array_equal(past[:, 2:].argmax(axis=1), [0, 0, 0])  # Monday
    # 36 half-hours after 06:00 Monday is 00:00 Tuesday (sin 0, cos 1), one-hot index 1.
    np.testing.assert_allclose(ahead[35, :2], [0.0, 1.0], atol=1e-6)
    assert ahead[34, 2:].argmax() == 0 and ahead[35, 2:].argmax() == 1
    np.testing.assert_array_equal(ahead[:, 2:].sum(axis=1), np.ones(37))  # exactly one day
    # Sunday 2023-12-31 23:00 is the last one-hot column.
    only_days = window_calendar(
        tf.constant([_epoch(2023, 12, 31, 23)], tf.int64), ("day_of_week",), 3600, 1, 1
    )[0].numpy()
    assert only_days.shape == (1, 1, 7) and only_days[0, 0].argmax() == 6


def test_calendar_config_errors_say_what_to_fix():
    assert calendar_width(("hour_of_day", "day_of_week")) == 9
    with pytest.raises(ConfigError, match=r"calendar: expected distinct names among"):
        TransformSeriesConfig(calendar=("minute_of_hour",))
    with pytest.raises(ConfigError, match="distinct"):
        TransformSeriesConfig(calendar=("hour_of_day", "hour_of_day"))
    config = TransformSeriesConfig(calendar=("day_of_week",))
    assert calendar_step_seconds(config, "30min") == 1800
    assert calendar_step_seconds(TransformSeriesConfig(), "MS") == 0  # no calendar: not needed
    with pytest.raises(ConfigError, match="needs a fixed step.*got frequency 'MS'"):
        calendar_step_seconds(config, "MS")


def test_forecaster_takes_the_future_where_its_output_can_use_it():
    from seqline.components.train.config import ForecasterConfig
    from seqline.components.train.forecasters import build_forecaster

    for output in ("last", "direct", "seq2seq"):
        model = build_forecaster(
            ForecasterConfig(layer="gru", units=(4,), output=output), 6, 3, 5, num_future=2
        )
        out = model({"history": np.zeros((2, 6, 3), "float32"), "future": np.ones((2, 5, 2))})
        assert tuple(out.shape) == (2, 1 if output == "last" else 5, 1)
        assert {i.name for i in model.inputs} == {"history", "future"}
    with pytest.raises(ConfigError, match="'sequence' predicts inside the history"):
        build_forecaster(ForecasterConfig(output="sequence"), 6, 3, 5, num_future=2)
