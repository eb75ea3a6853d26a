"""IngestSeriesConfig: what ingest_series reads, how it regularises, splits and windows series,
and how much bad data it tolerates. Pure (no numpy, TensorFlow or Beam): the pipeline builder
validates it before any run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from seqline.components.ingest_series.frequency import Frequency, parse_frequency
from seqline.components.ingest_series.timestamps import (
    EpochUnit,
    TimestampError,
    TimestampFormat,
    parse_timestamp,
)
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.record_size import DEFAULT_MAX_RECORD_BYTES, check_max_record_bytes
from seqline.pipeline.spans import SpansConfig

SourceFormat = Literal["csv", "parquet"]
GapPolicy = Literal["interpolate", "ffill", "drop"]
OffGridPolicy = Literal["reject", "snap"]
SplitBy = Literal["fraction", "time"]


@dataclass(frozen=True)
class IngestSeriesConfig:
    """Config of the ingest_series component (the YAML keys of an ingest_series node).

    Attributes:
        source: a file, a glob (`data/*.csv`) or a directory (its .csv files, each also
            compressed: .gz, .bz2, .xz, .lzma, .deflate, .zst, .zstd; resp. .parquet / .pq
            files; any case, not recursive, hidden files skipped, other files named in a
            warning); or a span pattern (`data/{span}/*.csv`,
            `data/{YYYY}-{MM}-{DD}/*.parquet`) whose spans `spans` picks. Required.
        format: "csv" (header row, RFC 4180 quoting) or "parquet". Default "csv".
        timestamp_column: column holding each row's time. Default "timestamp".
        timestamp_format: "iso" (ISO-8601 strings; no offset = UTC), "epoch" (numbers in
            epoch_unit) or "auto" (numbers are epoch, anything else ISO). Parquet timestamp and
            date columns are read natively whatever this says. Default "auto".
        epoch_unit: unit of epoch numbers: "s", "ms", "us" or "ns". Default "s".
        targets: the column(s) to forecast, in order; required (at least one). Default
            ("value",).
        covariates: further numeric input columns (history only). Default ().
        future_covariates: known-future columns (a temperature forecast, a holiday flag):
            inputs over the history like covariates, and also written over the horizon
            (`future/{column}` [H]) so the forecaster sees their values for the steps it
            forecasts; serving then needs them for the H steps ahead. Default ().
        series_id_column: column naming the series of each row, for many series in one file;
            None (default) = the whole source is one series (series_id "").
        frequency: the declared step, e.g. "30min", "1h", "1d", "MS" (calendar month start);
            see frequency.py. Required.
        off_grid: rows whose timestamp is not on the series' step grid: "reject" them (reason
            off_grid_timestamp, default) or "snap" them to the nearest step (monthly: the month
            they fall in); snapping can create duplicates, which are then rejected.
        gap_policy: missing steps inside a split: "interpolate" (linear, default) or "ffill"
            (repeat the last value) up to max_gap_steps consecutive missing steps; longer gaps,
            and every gap under "drop", split the series into segments and no window spans
            them.
        max_gap_steps: longest run of missing steps that interpolate/ffill fill. Default 3.
        split_by: "fraction" (each series' points, in time order, cut by split_fractions;
            default) or "time" (cut at the split_cuts timestamps, the same for every series).
        splits: split names in time order. Default ("train", "eval", "test").
        split_fractions: fraction of each series' points per split, same order as splits,
            each > 0, summing to 1. Default (0.7, 0.15, 0.15).
        split_cuts: with split_by "time", len(splits) - 1 increasing timestamps (ISO-8601 or
            epoch per timestamp_format): split i holds cut[i-1] <= t < cut[i].
        lookback: history steps per window (L). Default 24.
        horizon: future steps per window (H). Default 1.
        stride: steps between the starts of consecutive windows (S). Default 1.
        history_from_previous_split: False (default): every window lies inside one split, so
            a split of n points gives n - L - H + 1 windows (stride 1) and its first L points
            are never forecast. True: rolling-origin backtesting. A window of a later split
            may take its L history steps from the data just before the split (up to L steps
            of the previous splits), while its H targets stay in its own split. Train's
            windows are unchanged (they never take anything from a later split), and no
            target is in two splits. Each later split then forecasts from its first point on
            (n - H + 1 windows at stride 1). Needs the splits to meet without missing steps:
            a gap at the boundary keeps that split's windows inside it.
        max_reject_ratio: fail (DataError) when rejected / input exceeds it. Default 0.05.
        max_record_bytes: a row (CSV record, or the text cells of a Parquet row) over this
            many bytes is rejected as record_too_large. Default 1 MiB
            (DEFAULT_MAX_RECORD_BYTES, the same in every ingest component; docs/ingest.md).
        num_shards: TFRecord shards per split; 0 lets the runner decide.
        spans: with a span-pattern source, which spans to read: `{span: 7}`, `{span: "${span}"}`
            (a run parameter), `{latest: 3}` (rolling window; the spans' rows are one series
            history). Default: the latest span. See docs/scheduled-runs.md.

    Splits are tuples, not a mapping, because their order is time order and the pipeline's
    fingerprint sorts mapping keys (two orders would share a cache entry).
    """

    source: str = ""
    format: SourceFormat = "csv"
    timestamp_column: str = "timestamp"
    timestamp_format: TimestampFormat = "auto"
    epoch_unit: EpochUnit = "s"
    targets: tuple[str, ...] = ("value",)
    covariates: tuple[str, ...] = ()
    future_covariates: tuple[str, ...] = ()
    series_id_column: str | None = None
    frequency: str = ""
    off_grid: OffGridPolicy = "reject"
    gap_policy: GapPolicy = "interpolate"
    max_gap_steps: int = 3
    split_by: SplitBy = "fraction"
    splits: tuple[str, ...] = ("train", "eval", "test")
    split_fractions: tuple[float, ...] = (0.7, 0.15, 0.15)
    split_cuts: tuple[str, ...] = ()
    lookback: int = 24
    horizon: int = 1
    stride: int = 1
    history_from_previous_split: bool = False
    max_reject_ratio: float = 0.05
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    num_shards: int = 0
    spans: SpansConfig = field(default_factory=SpansConfig)

    def __post_init__(self) -> None:
        self._check_source()
        self._check_columns()
        self.parsed_frequency()  # raises ConfigError for a bad frequency
        self._check_policies()
        self._check_splits()
        for name in ("lookback", "horizon", "stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{name}: expected an integer >= 1, got {value!r}; e.g. lookback: 48, "
                    "horizon: 1, stride: 1"
                )
        if not isinstance(self.history_from_previous_split, bool):
            raise ConfigError(
                "history_from_previous_split: expected true or false, got "
                f"{self.history_from_previous_split!r}"
            )
        if not (0.0 <= self.max_reject_ratio <= 1.0) or math.isnan(self.max_reject_ratio):
            raise ConfigError(
                f"max_reject_ratio: expected a fraction in [0, 1], got {self.max_reject_ratio!r}"
                "; e.g. 0.05 fails the run when more than 5% of rows are rejected"
            )
        check_max_record_bytes(self.max_record_bytes)
        if self.num_shards < 0:
            raise ConfigError(
                f"num_shards: expected >= 0 (0 = runner decides), got {self.num_shards}"
            )

    def _check_source(self) -> None:
        if not self.source:
            raise ConfigError(
                "source: expected a file, glob or directory, got an empty value; set source "
                "to where the data is, e.g. source: data/demand.csv"
            )
        if self.format not in ("csv", "parquet"):
            raise ConfigError(
                f"format: expected 'csv' or 'parquet', got {self.format!r}; set format to the "
                "kind of file `source` points at"
            )

    def _check_columns(self) -> None:
        if not self.targets:
            raise ConfigError(
                "targets: expected at least one target column, got (); e.g. targets: [demand]"
            )
        named = {
            "timestamp_column": [self.timestamp_column],
            "targets": list(self.targets),
            "covariates": list(self.covariates),
            "future_covariates": list(self.future_covariates),
            "series_id_column": [self.series_id_column] if self.series_id_column else [],
        }
        seen: dict[str, str] = {}
        for field_name, columns in named.items():
            for column in columns:
                if not isinstance(column, str) or not column.strip() or column != column.strip():
                    raise ConfigError(
                        f"{field_name}: expected column names without surrounding spaces, "
                        f"got {column!r}"
                    )
                if column in seen:
                    raise ConfigError(
                        f"{field_name}: column {column!r} is also used by {seen[column]}; each "
                        "column can play one role (timestamp, target, covariate, future "
                        "covariate or series id)"
                    )
                seen[column] = field_name

    def _check_policies(self) -> None:
        if self.timestamp_format not in ("auto", "iso", "epoch"):
            raise ConfigError(
                f"timestamp_format: expected 'auto', 'iso' or 'epoch', got "
                f"{self.timestamp_format!r}"
            )
        if self.epoch_unit not in ("s", "ms", "us", "ns"):
            raise ConfigError(
                f"epoch_unit: expected 's', 'ms', 'us' or 'ns', got {self.epoch_unit!r}"
            )
        if self.off_grid not in ("reject", "snap"):
            raise ConfigError(f"off_grid: expected 'reject' or 'snap', got {self.off_grid!r}")
        if self.gap_policy not in ("interpolate", "ffill", "drop"):
            raise ConfigError(
                f"gap_policy: expected 'interpolate', 'ffill' or 'drop', got {self.gap_policy!r}"
            )
        if not isinstance(self.max_gap_steps, int) or self.max_gap_steps < 0:
            raise ConfigError(
                f"max_gap_steps: expected an integer >= 0, got {self.max_gap_steps!r}; 0 fills "
                "nothing (every gap splits the series)"
            )

    def _check_splits(self) -> None:
        splits = tuple(self.splits)
        if not splits:
            raise ConfigError(
                'splits: expected at least one split name, got (); e.g. ["train", "eval"]'
            )
        for name in splits:
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise ConfigError(f"splits: expected names usable as folder names, got {name!r}")
        if len(set(splits)) != len(splits):
            raise ConfigError(f"splits: expected distinct names, got {list(splits)}")
        if self.split_by == "fraction":
            fractions = tuple(self.split_fractions)
            if len(fractions) != len(splits):
                raise ConfigError(
                    f"split_fractions: expected one fraction per split {list(splits)}, got "
                    f"{list(fractions)}; list them in the same (time) order as splits"
                )
            for name, value in zip(splits, fractions, strict=True):
                if not isinstance(value, int | float) or not value > 0 or math.isinf(value):
                    raise ConfigError(
                        f"split_fractions: expected a fraction > 0 for split {name!r}, got "
                        f"{value!r}; drop the split instead of giving it 0"
                    )
            if abs(sum(fractions) - 1.0) > 1e-6:
                raise ConfigError(
                    f"split_fractions: expected fractions summing to 1, got {list(fractions)} "
                    f"(sum {sum(fractions):.6g}); scale them so they add up to 1"
                )
        elif self.split_by == "time":
            if len(self.split_cuts) != len(splits) - 1:
                raise ConfigError(
                    f"split_cuts: expected {len(splits) - 1} cut timestamp(s) between the "
                    f"splits {list(splits)}, got {list(self.split_cuts)}; e.g. split_cuts: "
                    '["2000-08-01", "2000-08-15"] for train/eval/test'
                )
            cuts = self.cut_micros()
            if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
                raise ConfigError(
                    f"split_cuts: expected strictly increasing timestamps, got "
                    f"{list(self.split_cuts)}"
                )
        else:
            raise ConfigError(f"split_by: expected 'fraction' or 'time', got {self.split_by!r}")

    def parsed_frequency(self) -> Frequency:
        """The frequency as a Frequency (raises ConfigError if it does not parse)."""
        if not self.frequency:
            raise ConfigError(
                "frequency: expected the series' step, got an empty value; set e.g. "
                'frequency: "30min", "1h", "1d" or "MS" (monthly)'
            )
        return parse_frequency(self.frequency)

    def cut_micros(self) -> list[int]:
        """split_cuts as epoch microseconds (raises ConfigError naming a cut that does not
        parse)."""
        out: list[int] = []
        for cut in self.split_cuts:
            try:
                out.append(
                    parse_timestamp(str(cut).strip(), self.timestamp_format, self.epoch_unit)
                )
            except TimestampError as err:
                raise ConfigError(
                    f"split_cuts: expected timestamps (ISO-8601 like '2000-08-01T00:00:00' or "
                    f"epoch numbers in {self.epoch_unit!r}), got {cut!r}: {err}; quote dates in "
                    "YAML so they stay strings"
                ) from None
        return out

    def columns(self) -> list[str]:
        """The value columns, targets first, then covariates, then future covariates (the
        order of history features)."""
        return [*self.targets, *self.covariates, *self.future_covariates]

    def history_covariates(self) -> list[str]:
        """Every non-target input column: covariates, then future covariates."""
        return [*self.covariates, *self.future_covariates]

    def future_columns(self) -> list[str]:
        """The columns written over the horizon: targets, then future covariates."""
        return [*self.targets, *self.future_covariates]

    def required_columns(self) -> list[str]:
        """Every column a source file must have."""
        extra = [self.series_id_column] if self.series_id_column else []
        return [self.timestamp_column, *extra, *self.columns()]
