"""Timestamp cells -> epoch microseconds (int, UTC). Pure standard library.

Two notations, chosen by IngestSeriesConfig.timestamp_format:

    "iso"    ISO-8601 strings as `datetime.fromisoformat` reads them (Python 3.11): dates
             ("2000-06-05"), date-times with "T" or a space, fractions of a second, and offsets
             ("+01:00", "Z"). A timestamp without an offset is taken as UTC.
    "epoch"  numbers since 1970-01-01 UTC in `epoch_unit` (s, ms, us, ns); fractions allowed.
    "auto"   a cell that parses as a number is epoch, anything else ISO-8601.

Internally every timestamp is an int of microseconds since the epoch: exact for every input
above (ns are floored to us) and cheap to sort, difference and snap to a grid with numpy.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

TimestampFormat = Literal["auto", "iso", "epoch"]
EpochUnit = Literal["s", "ms", "us", "ns"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROS_PER_UNIT: dict[str, float] = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}
_ONE_MICRO = dt.timedelta(microseconds=1)
# Epoch values beyond year ~9999 cannot be real timestamps (and would overflow datetime).
_MAX_ABS_MICROS = 253_402_300_800 * 1_000_000


class TimestampError(ValueError):
    """A cell that is not a timestamp in the configured notation (the message says why)."""


def datetime_to_micros(value: dt.datetime) -> int:
    """Epoch microseconds of a datetime (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // _ONE_MICRO


def micros_to_iso(micros: int) -> str:
    """ISO-8601 UTC text of epoch microseconds, e.g. "2000-06-05T00:30:00Z" (for messages)."""
    text = (EPOCH + dt.timedelta(microseconds=int(micros))).isoformat()
    return text.replace("+00:00", "Z")


def parse_iso(text: str) -> int:
    """Epoch microseconds of an ISO-8601 string; raises TimestampError."""
    try:
        return datetime_to_micros(dt.datetime.fromisoformat(text))
    except ValueError as err:
        raise TimestampError(f"not an ISO-8601 timestamp: {err}") from None


def epoch_to_micros(number: float, unit: EpochUnit) -> int:
    """Epoch microseconds of a number in `unit`; raises TimestampError for NaN/Inf/out of range."""
    if not math.isfinite(number):
        raise TimestampError(f"epoch value {number!r} is not finite")
    if isinstance(number, int) and unit in ("s", "ms", "us"):
        micros = number * int(MICROS_PER_UNIT[unit])  # exact for integers
    elif isinstance(number, int):
        micros = number // 1000  # ns -> us, floored like numpy's datetime64 casts
    else:
        micros = math.floor(number * MICROS_PER_UNIT[unit])
    if abs(micros) > _MAX_ABS_MICROS:
        raise TimestampError(
            f"epoch value {number!r} in unit {unit!r} is beyond year 9999; check epoch_unit"
        )
    return micros


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def parse_timestamp(text: str, fmt: TimestampFormat, unit: EpochUnit) -> int:
    """Epoch microseconds of a timestamp cell (already stripped, non-empty).

    Raises TimestampError with a message fit for the rejected record's reason."""
    if not text.isascii() or not text.isprintable() or "_" in text:
        # fromisoformat / int / float would read "2000-01-03T03:00:00\x00", "1_000" or
        # non-ASCII digits; a timestamp cell holds none of them.
        raise TimestampError(
            f"expected a timestamp of printable ASCII characters without '_', got {text!r}"
        )
    if fmt == "iso":
        return parse_iso(text)
    if fmt == "auto" and text[4:5] == "-":
        return parse_iso(text)  # "YYYY-..." is never a number: skip the number attempts
    number = _number(text)
    if fmt == "epoch":
        if number is None:
            raise TimestampError(f"expected an epoch number in {unit!r}, got {text!r}")
        return epoch_to_micros(number, unit)
    if number is not None:
        return epoch_to_micros(number, unit)
    return parse_iso(text)
