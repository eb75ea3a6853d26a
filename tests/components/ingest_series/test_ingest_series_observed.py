"""Which future steps of a window were rows of the source, and which ingest filled: segments
keep the flag per step (also across borrowed history), windows carry it as `future_observed`
[H], and evaluate scores observed targets only (tests/components/evaluate)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.frequency import parse_frequency
from seqline.components.ingest_series.records import PointBatch
from seqline.components.ingest_series.regularize import (
    RegularizeRules,
    Segment,
    concat_batches,
    regularize,
)
from seqline.components.ingest_series.windowing import WindowEncoder, iter_windows
from tests.components.ingest_series.helpers import read_windows, run_component

HOUR = 3600 * 10**6
HOUR_S = 3600
T0_S = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())
T0 = T0_S * 10**6


def points(steps: list[int] | np.ndarray):
    steps = np.asarray(steps, dtype=np.int64)
    values = steps.astype(float).reshape(-1, 1)
    batch = PointBatch(0, np.arange(1, len(steps) + 1), T0 + steps * HOUR, values)
    return concat_batches([batch], 1)


def rules(**overrides):
    fields = dict(
        frequency=parse_frequency("1h"), splits=("train",), fractions=(1.0,), cut_micros=None
    )
    fields.update(overrides)
    return RegularizeRules(**fields)


@pytest.mark.parametrize("policy", ["interpolate", "ffill"])
def test_segments_flag_the_steps_they_filled(policy) -> None:
    present = [0, 1, 2, 4, 6, 10, 11]  # gaps of 1, 1 and 3 missing steps
    segments, report = regularize(points(present), rules(gap_policy=policy, max_gap_steps=2))
    assert [s.observed.tolist() for s in segments] == [
        [True, True, True, False, True, False, True],
        [True, True],
    ]
    assert report.filled_steps == sum(int((~s.observed).sum()) for s in segments) == 2


def test_borrowed_history_keeps_its_flags() -> None:
    # Steps 0..29 train (step 25 missing, filled), 30..44 eval, 45..59 test.
    present = np.delete(np.arange(60), 25)
    three = dict(splits=("train", "eval", "test"), fractions=(0.5, 0.25, 0.25))
    segments, _ = regularize(points(present), rules(**three, borrow_steps=20))
    by_split = {s.split: s for s in segments}
    assert by_split["eval"].borrowed == 20
    eval_steps = (by_split["eval"].timestamps - T0) // HOUR
    np.testing.assert_array_equal(by_split["eval"].observed, eval_steps != 25)


def test_windows_carry_the_flags_of_their_future_steps() -> None:
    values = np.arange(10.0).reshape(-1, 1)
    observed = np.array([1, 1, 1, 1, 0, 1, 0, 0, 1, 1], dtype=bool)
    segment = Segment("train", T0 + np.arange(10) * HOUR, values, observed=observed)
    windows = list(iter_windows(segment, lookback=3, horizon=2, stride=1, future_columns=[0]))
    assert [w[3] for w in windows] == [[1, 0], [0, 1], [1, 0], [0, 0], [0, 1], [1, 1]]

    import tensorflow as tf

    from seqline.schemas.series import FUTURE_OBSERVED_KEY

    encoder = WindowEncoder("s", ["y"], ["y"], 3, 2)
    feature = tf.train.Example.FromString(encoder.encode(*windows[1])).features.feature
    assert list(feature[FUTURE_OBSERVED_KEY].int64_list.value) == [0, 1]
    again = tf.train.Example.FromString(encoder.encode(*windows[0][:3])).features.feature
    assert list(again[FUTURE_OBSERVED_KEY].int64_list.value) == [1, 1]  # None: all observed


def test_windows_of_several_chunks_read_the_flags_once(monkeypatch) -> None:
    """A segment without flags (all observed) built a full-length array of ones per chunk of
    windows: once per 4096 windows over a million-step series."""
    segment = Segment("train", T0 + np.arange(10) * HOUR, np.arange(10.0).reshape(-1, 1))
    calls = []
    steps = Segment.observed_steps
    monkeypatch.setattr(Segment, "observed_steps", lambda self: calls.append(1) or steps(self))
    windows = list(iter_windows(segment, 3, 2, 1, [0], chunk_windows=2))
    assert [w[3] for w in windows] == [[1, 1]] * 6 and len(calls) == 1


@pytest.mark.slow  # a Beam run: ~8 s on 2 cores
def test_ingested_windows_flag_every_filled_target(tmp_path: Path) -> None:
    """Every third hour missing from hour 60 on: filled by interpolation, flagged 0."""
    kept = [h for h in range(100) if h < 60 or h % 3]
    lines = ["timestamp,value"]
    for h in kept:
        stamp = dt.datetime.fromtimestamp(T0_S + h * HOUR_S, dt.UTC)
        lines.append(f"{stamp:%Y-%m-%dT%H:%M:%S},{h}.5")
    source = tmp_path / "data" / "s.csv"
    source.parent.mkdir()
    source.write_text("\n".join(lines) + "\n")
    config = IngestSeriesConfig(
        source=str(source), frequency="1h", lookback=6, horizon=3, max_gap_steps=1,
        split_fractions=(0.6, 0.2, 0.2),
    )  # fmt: skip
    _summary, examples, _ = run_component(tmp_path, config)
    source_hours = set(kept)
    flagged = 0
    for split in ("train", "eval", "test"):
        for window in read_windows(examples.uri, split, config):
            end_hour = (window["window_end"] - T0_S) // HOUR_S
            want = [int(end_hour + h in source_hours) for h in (1, 2, 3)]
            assert window["future_observed"].tolist() == want, (split, end_hour)
            flagged += 3 - sum(want)
    assert flagged > 0
