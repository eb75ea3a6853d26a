"""Pure pieces of ingest_series: frequency, timestamps, config checks, row rules, regularising
one series (grid, duplicates, gaps, splits) and lazy windowing. No Beam, no TensorFlow."""

from __future__ import annotations

import datetime as dt
import tracemalloc

import numpy as np
import pytest

from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.frequency import parse_frequency
from seqline.components.ingest_series.records import PointBatch, PointBuffer, RowProblem, RowRules
from seqline.components.ingest_series.regularize import (
    RegularizeRules,
    Segment,
    concat_batches,
    regularize,
)
from seqline.components.ingest_series.timestamps import TimestampError, parse_timestamp
from seqline.components.ingest_series.windowing import iter_windows, window_count
from seqline.pipeline.errors import ConfigError

HOUR = 3600 * 10**6
T0 = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()) * 10**6


def points(stamps, values=None, positions=None, files=None):
    """SeriesPoints of one column from lists (positions default to input order 1..n)."""
    n = len(stamps)
    values = np.arange(n, dtype=float) if values is None else np.asarray(values, dtype=float)
    positions = np.arange(1, n + 1) if positions is None else np.asarray(positions)
    files = np.zeros(n, np.int64) if files is None else np.asarray(files)
    batches = [
        PointBatch(int(f), positions[files == f], np.asarray(stamps, np.int64)[files == f],
                   values.reshape(n, -1)[files == f])
        for f in sorted(set(files.tolist()))
    ]  # fmt: skip
    return concat_batches(batches, values.reshape(n, -1).shape[1])


def rules(**overrides):
    fields = dict(
        frequency=parse_frequency("1h"), splits=("train",), fractions=(1.0,), cut_micros=None
    )
    fields.update(overrides)
    return RegularizeRules(**fields)


# --- frequency, timestamps, config ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "micros", "months"),
    [("30min", 1800 * 10**6, 0), ("1h", HOUR, 0), ("h", HOUR, 0), ("1d", 86400 * 10**6, 0),
     ("2w", 14 * 86400 * 10**6, 0), ("MS", 0, 1), ("3MS", 0, 3), ("15s", 15 * 10**6, 0)],
)  # fmt: skip
def test_parse_frequency(text, micros, months) -> None:
    freq = parse_frequency(text)
    assert (freq.step_micros, freq.months) == (micros, months)


@pytest.mark.parametrize("text", ["", "1M", "0h", "fortnight", "1.5h", "ms"])
def test_parse_frequency_rejects_unknown_spellings(text) -> None:
    with pytest.raises(ConfigError, match="frequency"):
        parse_frequency(text)


def test_parse_timestamp_notations() -> None:
    assert parse_timestamp("2000-01-01T01:00:00", "iso", "s") == T0 + HOUR
    assert parse_timestamp("2000-01-01 02:00:00+01:00", "auto", "s") == T0 + HOUR
    assert parse_timestamp("2000-01-01T01:00:00Z", "auto", "s") == T0 + HOUR
    assert parse_timestamp("2000-01-01", "auto", "s") == T0
    assert parse_timestamp(str(T0 // 10**6 + 3600), "auto", "s") == T0 + HOUR
    assert parse_timestamp(str(T0 // 1000), "epoch", "ms") == T0
    assert parse_timestamp("1.5", "epoch", "s") == 1_500_000
    for text, fmt in (
        ("yesterday", "auto"),
        ("12", "iso"),
        ("2000-01-01", "epoch"),
        ("nan", "auto"),
    ):
        with pytest.raises(TimestampError):
            parse_timestamp(text, fmt, "s")
    with pytest.raises(TimestampError, match="beyond year 9999"):
        parse_timestamp(str(T0), "epoch", "s")  # microseconds read as seconds


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"source": ""}, "source"),
        ({"frequency": ""}, "frequency"),
        ({"targets": ()}, "targets"),
        ({"covariates": ("value",)}, "also used by targets"),
        ({"split_fractions": (0.5, 0.5)}, "one fraction per split"),
        ({"split_fractions": (0.7, 0.2, 0.2)}, "summing to 1"),
        ({"split_fractions": (1.0, 0.0, 0.0)}, "fraction > 0"),
        ({"split_by": "time", "split_cuts": ("2000-01-02",)}, "2 cut timestamp"),
        ({"split_by": "time", "split_cuts": ("2000-01-03", "2000-01-02")}, "increasing"),
        ({"split_by": "time", "split_cuts": ("soon", "later")}, "quote dates"),
        ({"lookback": 0}, "lookback"),
        ({"max_gap_steps": -1}, "max_gap_steps"),
        ({"splits": ("train", "train"), "split_fractions": (0.5, 0.5)}, "distinct"),
        ({"max_reject_ratio": 1.5}, "max_reject_ratio"),
    ],
)
def test_config_errors_name_the_field(fields, match) -> None:
    base = {"source": "data.csv", "frequency": "1h"}
    with pytest.raises(ConfigError, match=match):
        IngestSeriesConfig(**{**base, **fields})


def test_row_rules_reasons() -> None:
    config = IngestSeriesConfig(
        source="x", frequency="1h", covariates=("temp",), series_id_column="id"
    )
    row_rules = RowRules(config)
    assert row_rules.point("a", "2000-01-01T01:00:00", ["1.5", " 2 "]) == (
        "a",
        T0 + HOUR,
        (1.5, 2.0),
    )
    cases = [
        ("", "2000-01-01", ["1", "2"], rec.MISSING_SERIES_ID),
        ("a", " ", ["1", "2"], rec.MISSING_TIMESTAMP),
        ("a", "31/12/1999", ["1", "2"], rec.BAD_TIMESTAMP),
        ("a", "2000-01-01", ["", "2"], rec.MISSING_VALUE),
        ("a", "2000-01-01", ["1", "n/a"], rec.NON_NUMERIC),
        ("a", "2000-01-01", ["NaN", "2"], rec.NON_FINITE),
        ("a", "2000-01-01", ["1", "-inf"], rec.NON_FINITE),
        ("a", dt.date(2000, 1, 1), [None, 2.0], rec.MISSING_VALUE),
        ("a", dt.datetime(2000, 1, 1), [[1.0], 2.0], rec.NON_NUMERIC),
        ("a", "2000-01-01", ["yes", "2"], rec.NON_NUMERIC),
        ("a", None, [1.0, 2.0], rec.MISSING_TIMESTAMP),
    ]
    for sid, stamp, values, reason in cases:
        problem = row_rules.point(sid, stamp, values)
        assert isinstance(problem, RowProblem) and problem.reason == reason, (stamp, values)


@pytest.mark.parametrize(
    ("cells", "values"),
    [
        (["true", "false"], (1.0, 0.0)),
        (["True", " FALSE "], (1.0, 0.0)),
        (["1", "0"], (1.0, 0.0)),
        ([True, False], (1.0, 0.0)),
        ([np.bool_(True), 3.5], (1.0, 3.5)),
    ],
)
def test_boolean_cells_are_read_as_zero_or_one(cells: list, values: tuple) -> None:
    config = IngestSeriesConfig(source="x", frequency="1h", covariates=("holiday",))
    assert RowRules(config).values(cells) == values


def test_point_buffer_batches_per_series_and_bounds_memory() -> None:
    buffer = PointBuffer(file_index=3, width=1, batch_rows=2, max_rows=5)
    assert buffer.add("a", 1, 10, (1.0,)) == []
    due = buffer.add("a", 2, 20, (2.0,))
    assert [(sid, b.positions.tolist(), b.file_index) for sid, b in due] == [("a", [1, 2], 3)]
    buffer.add("b", 3, 30, (3.0,))
    buffer.add("c", 4, 40, (4.0,))
    buffer.add("d", 5, 50, (5.0,))
    buffer.add("e", 6, 60, (6.0,))
    due = buffer.add("f", 7, 70, (7.0,))  # 5 rows buffered over 5 series: everything goes
    assert sorted(sid for sid, _ in due) == ["b", "c", "d", "e", "f"]
    assert buffer.drain() == []


# --- regularize -------------------------------------------------------------------------------


def test_sorts_counts_out_of_order_and_keeps_the_first_duplicate() -> None:
    stamps = [T0 + 2 * HOUR, T0, T0 + HOUR, T0 + HOUR, T0 + 3 * HOUR]
    segments, report = regularize(points(stamps, values=[2, 0, 1, 99, 3]), rules())
    assert report.out_of_order == 3  # T0 and both T0+1h rows come after T0+2h in the input
    assert report.duplicates.tolist() == [3]  # the later T0+1h row
    assert report.duplicate_of.tolist() == [2]
    assert len(segments) == 1
    assert segments[0].values[:, 0].tolist() == [0, 1, 2, 3]
    assert ((segments[0].timestamps - T0) // HOUR).tolist() == [0, 1, 2, 3]
    assert report.points == {"train": 4}


def test_duplicates_across_files_keep_the_first_file_in_input_order() -> None:
    stamps = [T0, T0 + HOUR, T0 + HOUR]
    pts = points(stamps, values=[0, 1, 7], positions=[2, 3, 2], files=[1, 1, 0])
    segments, report = regularize(pts, rules())
    assert segments[0].values[:, 0].tolist() == [0, 7]  # file 0 comes first in input order
    assert pts.file_index[report.duplicates].tolist() == [1]


def test_off_grid_rows_are_rejected_or_snapped() -> None:
    stamps = [T0, T0 + HOUR, T0 + 2 * HOUR + 60 * 10**6, T0 + 3 * HOUR, T0 + 4 * HOUR]
    _segments, report = regularize(points(stamps), rules())
    assert report.off_grid.tolist() == [2] and report.off_grid_rejected
    assert report.gaps == 1 and report.filled_steps == 1  # the rejected step is interpolated

    segments, report = regularize(points(stamps), rules(off_grid="snap"))
    assert report.off_grid.tolist() == [2] and not report.off_grid_rejected
    assert report.gaps == 0 and report.duplicates.size == 0
    assert ((segments[0].timestamps - T0) // HOUR).tolist() == [0, 1, 2, 3, 4]


def test_grid_phase_is_the_series_own() -> None:
    # A daily series stamped at 23:00 UTC is regular: the grid follows its phase.
    day = 24 * HOUR
    stamps = [T0 - HOUR + i * day for i in range(5)]
    segments, report = regularize(points(stamps), rules(frequency=parse_frequency("1d")))
    assert report.off_grid.size == 0 and report.gaps == 0
    assert segments[0].timestamps.tolist() == stamps


def test_calendar_months_are_regular_and_mid_month_is_off_grid() -> None:
    months = np.arange("1749-01", "1750-03", dtype="datetime64[M]")
    stamps = months.astype("datetime64[us]").astype(np.int64).tolist()
    monthly = rules(frequency=parse_frequency("MS"))
    segments, report = regularize(points(stamps), monthly)
    assert report.gaps == 0 and report.off_grid.size == 0 and len(segments[0].timestamps) == 14

    stamps[3] += 14 * 24 * HOUR  # 15 April
    _segments, report = regularize(points(stamps), monthly)
    assert report.off_grid.tolist() == [3]
    segments, report = regularize(
        points(stamps), rules(frequency=parse_frequency("MS"), off_grid="snap")
    )
    assert report.off_grid.tolist() == [3] and report.gaps == 0
    assert segments[0].timestamps[3] == np.datetime64("1749-04-01", "us").astype(np.int64)


@pytest.mark.parametrize(
    ("policy", "max_gap", "expected_segments"),
    [
        ("interpolate", 2, [[0, 1, 2, 3, 4, 5, 6], [10, 11]]),
        ("ffill", 2, [[0, 1, 2, 2, 4, 4, 6], [10, 11]]),
        ("drop", 2, [[0, 1, 2], [4], [6], [10, 11]]),
        ("interpolate", 0, [[0, 1, 2], [4], [6], [10, 11]]),
    ],
)
def test_gap_policies(policy, max_gap, expected_segments) -> None:
    # Present steps 0 1 2 4 6 10 11: gaps of 1, 1 and 3 missing steps.
    present = [0, 1, 2, 4, 6, 10, 11]
    stamps = [T0 + s * HOUR for s in present]
    segments, report = regularize(
        points(stamps, values=present), rules(gap_policy=policy, max_gap_steps=max_gap)
    )
    assert [s.values[:, 0].tolist() for s in segments] == expected_segments
    assert (report.gaps, report.missing_steps, report.largest_gap_steps) == (3, 5, 3)
    filled = sum(len(s) for s in expected_segments) - len(present)
    assert report.filled_steps == filled
    assert report.breaks == len(expected_segments) - 1
    for segment in segments:  # timestamps stay on consecutive steps
        assert np.all(np.diff(segment.timestamps) == HOUR)


def test_splits_never_share_values_or_fill_across_the_boundary() -> None:
    # 10 points, one missing step right at the 50% cut: train must not interpolate towards
    # eval's first value, and each split's segments hold only its own points.
    present = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    stamps = [T0 + s * HOUR for s in present]
    values = [float(s) * 10 for s in present]
    split_rules = rules(splits=("train", "eval"), fractions=(0.5, 0.5), max_gap_steps=5)
    segments, report = regularize(points(stamps, values=values), split_rules)
    assert [(s.split, s.values[:, 0].tolist()) for s in segments] == [
        ("train", [0.0, 10.0, 20.0, 30.0, 40.0]),
        ("eval", [60.0, 70.0, 80.0, 90.0, 100.0]),
    ]
    assert report.points == {"train": 5, "eval": 5}
    assert report.filled_steps == 0 and report.gaps == 1 and report.breaks == 0


def test_time_cuts_split_every_series_at_the_same_instant() -> None:
    stamps = [T0 + s * HOUR for s in range(10)]
    cut_rules = rules(
        splits=("train", "eval", "test"), fractions=None, cut_micros=(T0 + 4 * HOUR, T0 + 9 * HOUR)
    )
    segments, report = regularize(points(stamps), cut_rules)
    assert report.points == {"train": 4, "eval": 5, "test": 1}
    assert [(s.split, len(s.timestamps)) for s in segments] == [
        ("train", 4),
        ("eval", 5),
        ("test", 1),
    ]
    assert max(segments[0].timestamps) < T0 + 4 * HOUR <= min(segments[1].timestamps)


def test_borrowed_history_stops_at_a_gap_and_reaches_back_over_a_short_split() -> None:
    # 60 hourly points valued by their step, steps 0..29 train, 30..44 eval, 45..59 test.
    three = dict(splits=("train", "eval", "test"), fractions=(0.5, 0.25, 0.25))
    segments, _ = regularize(points(T0 + np.arange(60) * HOUR), rules(**three, borrow_steps=20))
    by_split = {s.split: s for s in segments}
    assert [s.borrowed for s in segments] == [0, 20, 20]
    # eval borrows train's last 20 steps; test borrows all 15 of eval and 5 of train.
    np.testing.assert_array_equal(by_split["eval"].values[:, 0], np.arange(10, 45))
    np.testing.assert_array_equal(by_split["test"].values[:, 0], np.arange(25, 60))
    np.testing.assert_array_equal(
        by_split["test"].timestamps, T0 + np.arange(25, 60, dtype=np.int64) * HOUR
    )
    # A missing step at the eval/test boundary (step 45, the first test point is 46): filling
    # it would use a test value, so test borrows nothing; eval (no gap before it) still does.
    stamps = np.delete(np.arange(61), 45)
    segments, report = regularize(
        points(T0 + stamps * HOUR, values=stamps), rules(**three, borrow_steps=20)
    )
    assert report.gaps == 1 and [s.borrowed for s in segments] == [0, 20, 0]
    assert segments[2].values[0, 0] == 46
    with pytest.raises(ConfigError, match="history_from_previous_split: expected true or false"):
        IngestSeriesConfig(source="s.csv", frequency="1h", history_from_previous_split="yes")


# --- windowing -------------------------------------------------------------------------------


def test_windows_slide_with_stride_and_hold_history_then_future() -> None:
    values = np.stack([np.arange(10.0), 100 + np.arange(10.0)], axis=1)  # target, covariate
    segment = Segment("train", T0 + np.arange(10) * HOUR, values)
    windows = list(iter_windows(segment, lookback=3, horizon=2, stride=2, future_columns=[0]))
    assert len(windows) == window_count(10, 3, 2, 2) == 3
    end, history, future, observed = windows[1]
    assert end == (T0 + 4 * HOUR) // 10**6  # last history step 4
    assert history == [[2.0, 3.0, 4.0], [102.0, 103.0, 104.0]]
    assert future == [[5.0, 6.0]]  # targets only
    assert observed == [1, 1]  # a segment without `observed`: every step a source row
    assert windows[-1][1][0] == [4.0, 5.0, 6.0] and windows[-1][2] == [[7.0, 8.0]]
    short = Segment("train", segment.timestamps[:4], values[:4])  # 4 < L + H
    assert window_count(4, 3, 2, 1) == 0 and list(iter_windows(short, 3, 2, 1, [0])) == []


def test_windows_are_generated_lazily() -> None:
    # 200,000 steps and L = 48: all windows at once would be ~10M floats (hundreds of MB);
    # taking a few from the generator allocates little beyond the segment's column lists.
    n, lookback = 200_000, 48
    segment = Segment("train", T0 + np.arange(n, dtype=np.int64) * HOUR, np.random.rand(n, 1))
    tracemalloc.start()
    try:
        windows = iter_windows(segment, lookback=lookback, horizon=1, stride=1, future_columns=[0])
        first = [next(windows) for _ in range(5)]
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert window_count(n, lookback, 1, 1) == n - lookback
    assert len(first[4][1][0]) == lookback
    assert peak < 40 * 2**20, f"taking 5 windows allocated {peak / 2**20:.0f} MB"


def test_filled_steps_are_counted_per_split() -> None:
    # Train steps 0..39 and eval 40..49 are every hour; test has a row every third hour from
    # step 50 (2 steps of each 3 interpolated): 8 filled of 13, while 8 of 63 over all splits.
    present = [*range(50), *range(50, 63, 3)]
    cuts = (T0 + 40 * HOUR, T0 + 50 * HOUR)
    cut_rules = rules(splits=("train", "eval", "test"), fractions=None, cut_micros=cuts)
    segments, report = regularize(points([T0 + s * HOUR for s in present]), cut_rules)
    assert report.points == {"train": 40, "eval": 10, "test": 5}
    assert report.filled_by_split == {"train": 0, "eval": 0, "test": 8}
    assert report.filled_steps == sum(report.filled_by_split.values()) == 8
    test_segment = [s for s in segments if s.split == "test"]
    assert int((~test_segment[0].observed_steps()).sum()) == 8
    # An empty series lists every split with nothing filled.
    _segments, empty = regularize(concat_batches([], 1), cut_rules)
    assert empty.filled_by_split == {"train": 0, "eval": 0, "test": 0}


def test_missing_steps_left_unfilled_are_counted_per_split() -> None:
    # Cuts at steps 40 and 60. Train: a 2-step hole (10-11) is filled, and a
    # 5-step hole (20-24) left missing (max_gap_steps 3); the boundary hole 58-62 (eval's last
    # steps and test's first) goes to test, the split after it; eval has no hole.
    present = [s for s in range(80) if not (10 <= s <= 11 or 20 <= s <= 24 or 58 <= s <= 62)]
    cuts = (T0 + 40 * HOUR, T0 + 60 * HOUR)
    cut_rules = rules(splits=("train", "eval", "test"), fractions=None, cut_micros=cuts)
    _segments, report = regularize(points([T0 + s * HOUR for s in present]), cut_rules)
    assert report.points == {"train": 33, "eval": 18, "test": 17}
    assert report.filled_by_split == {"train": 2, "eval": 0, "test": 0}
    assert report.missing_by_split == {"train": 5, "eval": 0, "test": 5}
    assert report.gaps_by_split == {"train": 1, "eval": 0, "test": 1}
    # Every missing step of the series is filled or left missing in exactly one split, and
    # the splits' grids (points + filled + missing) tile the series from first to last step.
    assert report.missing_steps == report.filled_steps + sum(report.missing_by_split.values())
    grid = sum(report.points[s] + report.filled_by_split[s] + report.missing_by_split[s]
               for s in cut_rules.splits)  # fmt: skip
    assert grid == 80
    # Under "drop" nothing is filled: the 2-step hole is missing too.
    _segments, dropped = regularize(
        points([T0 + s * HOUR for s in present]),
        rules(**{**cut_rules.__dict__, "gap_policy": "drop"}),
    )
    assert dropped.missing_by_split == {"train": 7, "eval": 0, "test": 5}
    assert dropped.gaps_by_split == {"train": 2, "eval": 0, "test": 1}
    _segments, empty = regularize(concat_batches([], 1), cut_rules)
    assert empty.missing_by_split == empty.gaps_by_split == {"train": 0, "eval": 0, "test": 0}
