"""Calendar features pay: on an hourly series whose weekends sit far below its weekdays, a
forecaster that sees day_of_week over the horizon beats the same forecaster without it, when its
one-day history cannot tell whether tomorrow is a weekend (after a Sunday, or a Friday). Both
are trained on the same windows with the same seed and scored on the test split through the
exported SavedModel; the assertion is a comparison, not a number."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.components.train.config import ForecasterConfig, TrainSeriesConfig
from seqline.components.transform.config import TransformSeriesConfig
from tests.components.transform.series_fixtures import (
    run_component,
    serialize_window,
    write_series_examples,
)

pytestmark = pytest.mark.slow

LOOKBACK, HORIZON = 24, 24


def _weekly_series(weeks: int = 8) -> np.ndarray:
    """float [weeks * 168]: a daily cycle, 20 units lower on Saturdays and Sundays, noise."""
    rng = np.random.default_rng(5)
    t = np.arange(weeks * 168)
    weekend = np.mod(t // 24 + 3, 7) >= 5  # hour 0 is Thursday 1970-01-01 (the fixture's clock)
    return 50 + 8 * np.sin(2 * np.pi * t / 24) - 20 * weekend + rng.normal(0, 1, len(t))


def _test_mae(base, examples, windows, calendar) -> float:
    import tensorflow as tf

    from seqline.components.train.series_component import COMPONENT as TRAIN
    from seqline.components.transform.series_component import COMPONENT as TRANSFORM

    _, transformed = run_component(
        TRANSFORM,
        TransformSeriesConfig(scaling="zscore", calendar=calendar),
        {"examples": examples},
        base / "tf",
    )
    config = TrainSeriesConfig(
        forecaster=ForecasterConfig(layer="gru", units=(8,), output="direct"),
        epochs=6,
        batch_size=32,
        learning_rate=0.01,
        seed=7,
    )
    _, trained = run_component(TRAIN, config, transformed, base / "train")
    saved = tf.saved_model.load(trained["model"].path("saved_model"))
    rows = windows["test"]
    serialized = [
        serialize_window("", w["window_end"], w["history"], None, ("y",), ()) for w in rows
    ]
    forecast = saved.signatures["serving_default"](examples=tf.constant(serialized))["forecast"]
    actual = np.stack([w["future"][:, 0] for w in rows])
    return float(np.abs(forecast.numpy() - actual).mean())


def test_a_model_with_calendar_features_beats_the_same_model_without(tmp_path):
    examples, windows = write_series_examples(
        tmp_path / "examples", {"": _weekly_series()}, ("y",), (), LOOKBACK, HORIZON
    )
    with_calendar = _test_mae(tmp_path / "with", examples, windows, ("day_of_week",))
    without = _test_mae(tmp_path / "without", examples, windows, ())
    assert with_calendar < without, (with_calendar, without)
