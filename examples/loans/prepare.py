"""Writes the daily loans series the loans example reads: generated, deterministic, no download.

    python examples/loans/prepare.py [--days 1826] [--out examples/loans/data/loans.csv]

loans.csv  timestamp,amount    one row per day from 2019-01-01: the amount of loans disbursed
           (thousands), shaped like a lender's book: a slow growth trend, a weekly cycle (busy
           Monday and Friday, little at weekends), a month-end rush (the last two days of each
           month), a yearly swing (a spring peak, a December lull), and AR(1) multiplicative
           noise. Same arguments -> byte-identical file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
START = np.datetime64("2019-01-01")
# Monday .. Sunday.
WEEKDAY_FACTOR = np.array([1.15, 1.0, 0.95, 1.0, 1.2, 0.45, 0.25])


def loan_amounts(days: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """(dates datetime64[D] [days], amounts float [days]) of the generated book."""
    rng = np.random.default_rng(seed)
    dates = START + np.arange(days)
    t = np.arange(days, dtype=np.float64)
    trend = 200.0 * np.exp(0.0003 * t)
    # 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    weekday = (dates.astype(np.int64) + 3) % 7
    month_end = (dates + 2).astype("datetime64[M]") != dates.astype("datetime64[M]")
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    yearly = 1.0 + 0.12 * np.sin(2 * np.pi * (day_of_year - 40) / 365.25)
    yearly *= np.where(day_of_year > 350, 0.8, 1.0)  # the December lull
    noise = np.zeros(days)
    for i in range(1, days):
        noise[i] = 0.6 * noise[i - 1] + rng.normal(0.0, 0.06)
    amount = trend * WEEKDAY_FACTOR[weekday] * np.where(month_end, 1.35, 1.0) * yearly
    return dates, amount * np.exp(noise)


def write_loans(path: Path, days: int) -> Path:
    dates, amounts = loan_amounts(days)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("timestamp,amount\n")
        for date, amount in zip(np.datetime_as_string(dates, unit="D"), amounts, strict=True):
            f.write(f"{date}T00:00:00,{amount:.3f}\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1826, help="rows (default: 5 years)")
    parser.add_argument("--out", type=Path, default=HERE / "data" / "loans.csv")
    args = parser.parse_args(argv)
    if args.days < 100:
        parser.error(
            f"--days: expected at least 100 (60-day windows and three splits), got {args.days}"
        )
    print(write_loans(args.out, args.days))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
