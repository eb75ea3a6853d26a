"""Spacing of one series: regular steps, gaps, irregular points, calendar months."""

from __future__ import annotations

import numpy as np

from seqline.components.statistics.series_stats import SeriesChunk, summarize_series


def _months(start: str, end: str) -> np.ndarray:
    return np.arange(start, end, dtype="datetime64[M]").astype("datetime64[s]").astype(np.int64)


def _summary(stamps: np.ndarray):
    return summarize_series(SeriesChunk(timestamps=[stamps]))


def test_hourly_series_with_a_gap_and_an_irregular_point():
    stamps = np.arange(0, 3600 * 50, 3600)
    stamps = np.delete(stamps, [10, 11, 12])  # 3 missing hours: one gap
    stamps[30] += 600  # 10 minutes off the grid: the spacings before and after it
    summary = _summary(stamps)
    assert summary.step == 3600
    assert (summary.gaps, summary.missing_steps, summary.irregular) == (1, 3, 2)


def test_calendar_months_of_28_to_31_days_are_one_regular_step():
    summary = _summary(_months("1749-01", "1760-01"))  # 132 months, every month length
    assert (summary.gaps, summary.missing_steps, summary.irregular) == (0, 0, 0)
    assert summary.spacings == 131


def test_missing_months_are_a_gap_and_an_off_grid_day_is_irregular():
    stamps = np.delete(_months("2000-01", "2004-01"), [5, 6])
    summary = _summary(stamps)
    assert (summary.gaps, summary.missing_steps, summary.irregular) == (1, 2, 0)
    shifted = _months("2000-01", "2004-01")
    shifted[20] += 3 * 86400  # the 4th instead of the 1st
    summary = _summary(shifted)
    assert (summary.gaps, summary.irregular) == (0, 2)


def test_quarterly_series_is_regular():
    summary = _summary(_months("1990-01", "2000-01")[::3])
    assert (summary.gaps, summary.irregular) == (0, 0)


def test_the_series_chunks_step_gives_beam_no_yield_and_return_warning(caplog) -> None:
    # Beam reads the source of a FlatMap's function and warned three times per series
    # statistics run ("Using yield and return ... issues/22969") about series_chunks.
    import logging

    import apache_beam as beam

    from seqline.components.statistics.series_stats import series_chunks

    with caplog.at_level(logging.WARNING, logger="apache_beam"):
        beam.FlatMap(series_chunks, "timestamp", "series_id")
    assert not [r for r in caplog.records if "22969" in r.getMessage()]
