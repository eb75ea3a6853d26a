"""The seasonal period MASE scales by when `mase_season` is left out: read from the cadence.

A series' natural cycles follow from its step: sub-daily data repeats weekly and daily, daily
data weekly, monthly data yearly. The longest cycle that still leaves in-sample pairs inside
one window (period < lookback) is taken, so half-hourly windows of 400 steps get 336 (a week)
and windows of 96 get 48 (a day); with no cycle that fits, the lag is 1 (persistence).
Pure (no numpy): the period depends on the configuration only, not on the values.
"""

from __future__ import annotations

from seqline.components.ingest_series.frequency import parse_frequency
from seqline.pipeline.errors import ConfigError

_DAY_MICROS = 86_400 * 1_000_000
_WEEK_MICROS = 7 * _DAY_MICROS


def candidate_periods(frequency: str | None) -> list[int]:
    """Natural periods in steps, longest first, for a frequency string ("30min", "1d", "MS").

    Returns [] for an unknown or missing frequency and for steps that do not divide a day or
    a week (e.g. "7min": a day is not a whole number of steps).
    """
    if not frequency:
        return []
    try:
        parsed = parse_frequency(frequency)
    except ConfigError:
        return []
    if parsed.is_monthly:
        return [12 // parsed.months] if 12 % parsed.months == 0 and parsed.months < 12 else []
    step = parsed.step_micros
    periods = [span // step for span in (_WEEK_MICROS, _DAY_MICROS) if span % step == 0]
    return [p for p in periods if p > 1]


def detected_mase_season(frequency: str | None, lookback: int) -> int:
    """The longest natural period p of the cadence with p < lookback, else 1.

    Args:
        frequency: the windows' grid as ingest_series recorded it (None for old artifacts).
        lookback: L, steps of history per window; MASE's scale needs pairs (t, t - p) in it.
    """
    for period in candidate_periods(frequency):
        if period < lookback:
            return period
    return 1
