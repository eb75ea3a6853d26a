"""mase_season's default: the longest natural cycle of the cadence that fits the lookback."""

from __future__ import annotations

import pytest

from seqline.components.evaluate.seasonality import candidate_periods, detected_mase_season


@pytest.mark.parametrize(
    ("frequency", "lookback", "expected"),
    [
        ("30min", 400, 336),  # a week of half-hours fits: weekly
        ("30min", 336, 48),  # 336 needs lookback > 336: daily
        ("30min", 48, 1),  # not even a day: persistence
        ("1h", 200, 168),
        ("1d", 60, 7),
        ("1d", 7, 1),
        ("MS", 24, 12),
        ("7min", 1000, 1),  # no whole-step cycle
        (None, 400, 1),  # artifact without a recorded frequency
        ("bogus", 400, 1),
    ],
)
def test_detected_mase_season(frequency: str | None, lookback: int, expected: int) -> None:
    assert detected_mase_season(frequency, lookback) == expected


def test_candidate_periods_longest_first() -> None:
    assert candidate_periods("15min") == [672, 96]
    assert candidate_periods("1w") == []
