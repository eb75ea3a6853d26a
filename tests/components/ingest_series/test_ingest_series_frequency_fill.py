"""A declared frequency finer than the data (hourly rows, frequency 15min) fills 3 of every 4
steps by interpolation: ingest says so in its progress line, its summary and a logged warning
naming `frequency` (validate blocks it: validate.max_filled_fraction). The counts
are those ingest writes for 40 hourly rows declared 15min (117 filled steps)."""

from __future__ import annotations

import logging

from seqline.components.ingest_series.component import done_message, summarize
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.counts import filled_steps_warning


def _counts(points: int, filled: int) -> dict:
    return {
        "input": points, "rejected": 0, "by_reason": {}, "points": {"train": points},
        "windows": {"train": 100}, "series_ids": [""],
        "stats": {"filled_steps": filled, "short_segments": 0},
    }  # fmt: skip


def test_more_filled_steps_than_points_warns_naming_frequency(caplog) -> None:
    config = IngestSeriesConfig(source="x.csv", frequency="15min", lookback=8, horizon=4)
    with caplog.at_level(logging.WARNING, logger="seqline.components.ingest_series"):
        summary = summarize(_counts(40, 117), config)
    assert summary["accepted"] == 40 and summary["filled_steps"] == 117
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "117 steps were filled by gap_policy 'interpolate', more than the 40 real" in warnings[0]
    assert "is frequency '15min' finer than the data's step?" in warnings[0]
    line = done_message(summary, config)
    assert "117 steps filled, more than the 40 real points: frequency '15min'" in line


def test_a_few_filled_gaps_do_not_warn(caplog) -> None:
    config = IngestSeriesConfig(source="x.csv", frequency="1h")
    assert filled_steps_warning(_counts(100, 100), config) is None
    with caplog.at_level(logging.WARNING, logger="seqline.components.ingest_series"):
        summary = summarize(_counts(100, 3), config)
    assert not caplog.records
    assert "filled" not in done_message(summary, config)
    assert filled_steps_warning(_counts(100, 101), config) is not None
