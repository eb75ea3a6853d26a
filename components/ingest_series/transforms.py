"""The Beam side of ingest_series: composite PTransforms over the pure modules.

    files --ReadSeriesPoints--> (series id, PointBatch) | rejected | counts
          --GroupByKey--> (series id, [PointBatch])
          --MakeWindows--> serialized tf.Example per split | rejected | counts
    windows --WriteWindows--> {examples}/{split}/data-*-of-*.tfrecord.gz
    rejected (both stages) --WriteRejections--> {rejected}/rejected-*.jsonl
    counts --SumCounts--> one JSON file (counts_document)

Memory: the parser emits points in batches of numpy arrays; GroupByKey brings one series'
batches together (a series must fit in a worker's memory: ~8 * (2 + k) bytes a point); the
window DoFn is a generator that yields one serialized window at a time, so the windows of a
series (L times more values than its points) are never held at once.

Counting: each DoFn counts in a dict per bundle and emits (key, n) pairs when the bundle
finishes. The parser counts `input` and its rejections; the window step counts accepted points
per split, its own rejections (off-grid, duplicates) and windows, so `input == accepted +
rejected` checks that no row was lost in between. Only executed code imports this module.

Progress (pipeline/beam_progress.py): rows read (label "reading", the points of each batch and
the rejections) and windows made (label "windowing", every split) are reported while the
pipeline runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes

from seqline.components.ingest_series import parsing
from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.records import PointBatch, Rejection
from seqline.components.ingest_series.regularize import (
    RegularizeRules,
    SeriesPoints,
    concat_batches,
    regularize,
)
from seqline.components.ingest_series.timestamps import micros_to_iso
from seqline.components.ingest_series.windowing import (
    WindowEncoder,
    float32_losses,
    iter_windows,
    window_count,
)
from seqline.pipeline.artifacts.examples import SHARD_SUFFIX, split_prefix
from seqline.pipeline.beam_io import (
    COUNTS,
    BundleCounter,
    WriteJsonFn,
    WriteRejections,
    open_stream,
)
from seqline.pipeline.beam_progress import ReportProgress

POINTS = "points"
REJECTED = "rejected"
SPLIT_TAG_PREFIX = "split:"  # windows of split X go to tag "split:X" (never clashes with the above)


def split_tag(split: str) -> str:
    """The output tag of MakeWindowsFn carrying the windows of `split`."""
    return SPLIT_TAG_PREFIX + split


# Keys of the (key, n) count pairs.
INPUT = "input"
REASON_PREFIX = "reason:"
POINTS_PREFIX = "points:"
WINDOWS_PREFIX = "windows:"
BORROWED_PREFIX = "borrowed:"  # history steps a split's windows took from earlier splits
FILLED_PREFIX = "filled:"  # steps gap filling made up inside a split (summed over series)
# Missing steps of a split's grid left unfilled, and the gaps they are in (summed over series).
MISSING_PREFIX = "missing:"
MISSING_GAPS_PREFIX = "missing_gaps:"
SERIES_PREFIX = "series:"
STAT_PREFIX = "stat:"  # summed
MAX_PREFIX = "max:"  # maximum over series
# A column of a series float32 cannot hold (windowing.float32_losses); the key carries the
# facts as JSON [series id, column, low, high, max_error, distinct, distinct_float32].
FLOAT32_LOSS_PREFIX = "float32_loss:"

SERIES_STATS = (
    "out_of_order", "off_grid", "duplicates", "gaps", "missing_steps", "filled_steps",
    "breaks", "segments", "short_segments",
)  # fmt: skip


class ParseSeriesFileFn(beam.DoFn):
    """ReadableFile -> (series id, PointBatch) (main), Rejection (tag REJECTED), (key, n)
    counts (tag COUNTS: "input", "reason:<code>").

    `files` is the sorted source list: a file's index in it orders rows across files (the
    first of two duplicate rows in that order is the one kept).
    """

    def __init__(self, config: IngestSeriesConfig, files: Sequence[str]) -> None:
        self._config = config
        self._files = list(files)

    def setup(self) -> None:
        self._index = {path: i for i, path in enumerate(self._files)}

    def start_bundle(self) -> None:
        self._counter = BundleCounter(COUNTS)

    def _parse(self, readable_file: fileio.ReadableFile) -> Iterator[parsing.Parsed]:
        path = readable_file.metadata.path
        file_index = self._index.get(path, len(self._files))
        if self._config.format == "parquet":
            # pyarrow needs a seekable file; Parquet compresses inside the file.
            with readable_file.open(compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                yield from parsing.parse_parquet(handle, path, file_index, self._config)
            return
        with open_stream(readable_file) as stream:
            yield from parsing.parse_csv(stream, path, file_index, self._config)

    def process(self, readable_file: fileio.ReadableFile) -> Iterator[Any]:
        counts = self._counter.counts
        for item in self._parse(readable_file):
            if isinstance(item, Rejection):
                counts[INPUT] += 1
                counts[REASON_PREFIX + item.reason] += 1
                yield beam.pvalue.TaggedOutput(REJECTED, item)
            else:
                counts[INPUT] += len(item[1].positions)
                yield item

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._counter.emit()


class ReadSeriesPoints(beam.PTransform):
    """PBegin -> DoOutputsTuple with POINTS ((series id, PointBatch)), REJECTED (Rejection)
    and COUNTS ((key, n) pairs, several per key: sum them), reading the given matched files."""

    def __init__(self, files: Sequence[str], config: IngestSeriesConfig) -> None:
        super().__init__()
        self._files = sorted(files)
        self._config = config

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            # Spread files over workers (cheap: only paths are shuffled).
            | "SpreadFiles" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
            | "Parse"
            >> beam.ParDo(ParseSeriesFileFn(self._config, self._files)).with_outputs(
                REJECTED, COUNTS, main=POINTS
            )
        )


def regularize_rules(config: IngestSeriesConfig) -> RegularizeRules:
    """RegularizeRules of a config."""
    by_time = config.split_by == "time"
    return RegularizeRules(
        frequency=config.parsed_frequency(),
        splits=tuple(config.splits),
        fractions=None if by_time else tuple(config.split_fractions),
        cut_micros=tuple(config.cut_micros()) if by_time else None,
        off_grid=config.off_grid,
        gap_policy=config.gap_policy,
        max_gap_steps=config.max_gap_steps,
        borrow_steps=config.lookback if config.history_from_previous_split else 0,
    )


class MakeWindowsFn(beam.DoFn):
    """(series id, [PointBatch]) -> serialized window tf.Examples on tag split_tag(split),
    Rejections (off_grid_timestamp, duplicate_timestamp) on tag REJECTED, and counts on tag
    COUNTS ("points:<split>", "filled:<split>", "windows:<split>", "borrowed:<split>",
    "series:<id>", "stat:<name>", "max:largest_gap_steps", "reason:<code>",
    "float32_loss:<JSON facts>").

    A generator: windows are yielded one at a time as they are encoded.
    """

    def __init__(self, config: IngestSeriesConfig, files: Sequence[str]) -> None:
        self._config = config
        self._files = sorted(files)

    def setup(self) -> None:
        self._rules = regularize_rules(self._config)

    def start_bundle(self) -> None:
        self._counter = BundleCounter(COUNTS)

    def _rejection(
        self, series_id: str, points: SeriesPoints, index: int, reason: str, message: str
    ) -> Rejection:
        """A Rejection for a grouped point: its source and position, and as `record` a JSON
        object of its parsed cells (the raw line is not carried through the shuffle)."""
        config = self._config
        file_index = int(points.file_index[index])
        source = self._files[file_index] if file_index < len(self._files) else "?"
        record: dict[str, Any] = {
            config.timestamp_column: micros_to_iso(int(points.timestamps[index]))
        }
        if config.series_id_column:
            record[config.series_id_column] = series_id
        record.update(zip(config.columns(), points.values[index].tolist(), strict=True))
        return Rejection(
            source, int(points.positions[index]), reason, message,
            json.dumps(record, sort_keys=True),
        )  # fmt: skip

    def _where(self, points: SeriesPoints, index: int) -> str:
        file_index = int(points.file_index[index])
        source = self._files[file_index] if file_index < len(self._files) else "?"
        return f"{source}:{int(points.positions[index])}"

    def process(self, element: tuple[str, Iterable[PointBatch]]) -> Iterator[Any]:
        series_id, batches = element
        config = self._config
        counts = self._counter.counts
        points = concat_batches(batches, len(config.columns()))
        segments, report = regularize(points, self._rules)

        frequency = config.frequency
        if report.off_grid_rejected:
            for index in report.off_grid.tolist():
                stamp = micros_to_iso(int(points.timestamps[index]))
                yield beam.pvalue.TaggedOutput(
                    REJECTED,
                    self._rejection(
                        series_id, points, index, rec.OFF_GRID_TIMESTAMP,
                        f"timestamp {stamp} is not on the {frequency!r} grid of series "
                        f"{series_id!r}; set off_grid: snap to round such rows to the nearest "
                        "step, or check frequency",
                    ),
                )  # fmt: skip
            counts[REASON_PREFIX + rec.OFF_GRID_TIMESTAMP] += len(report.off_grid)
        for index, kept in zip(
            report.duplicates.tolist(), report.duplicate_of.tolist(), strict=True
        ):
            stamp = micros_to_iso(int(points.timestamps[index]))
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                self._rejection(
                    series_id, points, index, rec.DUPLICATE_TIMESTAMP,
                    f"series {series_id!r} already has a row for the step of {stamp} (kept: "
                    f"{self._where(points, kept)})",
                ),
            )  # fmt: skip
        counts[REASON_PREFIX + rec.DUPLICATE_TIMESTAMP] += len(report.duplicates)

        counts[SERIES_PREFIX + series_id] += 1
        for split, n in report.points.items():
            counts[POINTS_PREFIX + split] += n
        for split, n in report.filled_by_split.items():
            counts[FILLED_PREFIX + split] += n
        for split, n in report.missing_by_split.items():
            counts[MISSING_PREFIX + split] += n
        for split, n in report.gaps_by_split.items():
            counts[MISSING_GAPS_PREFIX + split] += n
        stats = {
            "out_of_order": report.out_of_order,
            "off_grid": len(report.off_grid),
            "duplicates": len(report.duplicates),
            "gaps": report.gaps,
            "missing_steps": report.missing_steps,
            "filled_steps": report.filled_steps,
            "breaks": report.breaks,
            "segments": report.segments,
        }
        for name, value in stats.items():
            counts[STAT_PREFIX + name] += value
        self._counter.maximum(MAX_PREFIX + "largest_gap_steps", report.largest_gap_steps)

        if segments:
            written = np.concatenate([segment.values for segment in segments])
            for loss in float32_losses(config.columns(), written):
                facts = [series_id, loss.column, loss.low, loss.high, loss.max_error,
                         loss.distinct, loss.distinct_float32]  # fmt: skip
                counts[FLOAT32_LOSS_PREFIX + json.dumps(facts)] += 1

        L, H, S = config.lookback, config.horizon, config.stride
        encoder = WindowEncoder(series_id, config.columns(), config.future_columns(), L, H)
        columns = config.columns()
        future_index = [columns.index(c) for c in config.future_columns()]
        for segment in segments:
            n_windows = window_count(len(segment.timestamps), L, H, S)
            if n_windows == 0:
                counts[STAT_PREFIX + "short_segments"] += 1
                continue
            counts[WINDOWS_PREFIX + segment.split] += n_windows
            if segment.borrowed:
                counts[BORROWED_PREFIX + segment.split] += segment.borrowed
            for window in iter_windows(segment, L, H, S, future_index):
                yield beam.pvalue.TaggedOutput(split_tag(segment.split), encoder.encode(*window))

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._counter.emit()


def _batch_rows(item: tuple[str, PointBatch]) -> int:
    """The rows a (series id, PointBatch) element holds (what ReportProgress counts)."""
    return len(item[1].positions)


def _combine(key: str, values: Iterable[int]) -> tuple[str, int]:
    values = list(values)
    return key, int(max(values) if key.startswith(MAX_PREFIX) else sum(values))


def counts_document(pairs: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """[(key, n)] (combined per key) -> {"input", "rejected", "by_reason", "points",
    "filled_by_split", "missing_by_split", "missing_gaps_by_split", "windows",
    "borrowed_steps", "series_ids", "stats", "float32_loss"}
    ("filled_by_split": split -> steps filled inside it, summed over series, beside
    stats.filled_steps, their total; "missing_by_split" / "missing_gaps_by_split": split ->
    missing steps of its grid left unfilled / the gaps they are in (regularize's
    SeriesReport.missing_by_split, gaps_by_split), summed over series; "float32_loss": one
    {"series", "column", "low", "high", "max_error", "distinct", "distinct_float32"} per
    column of a series that float32 cannot hold, worst first)."""
    doc: dict[str, Any] = {
        "input": 0, "rejected": 0, "by_reason": {}, "points": {}, "filled_by_split": {},
        "missing_by_split": {}, "missing_gaps_by_split": {}, "windows": {},
        "borrowed_steps": {}, "series_ids": [],
        "stats": {name: 0 for name in SERIES_STATS}, "float32_loss": [],
    }  # fmt: skip
    doc["stats"]["largest_gap_steps"] = 0
    for key, n in pairs:
        if key == INPUT:
            doc["input"] = int(n)
        elif key.startswith(REASON_PREFIX):
            if n:
                doc["by_reason"][key[len(REASON_PREFIX) :]] = int(n)
                doc["rejected"] += int(n)
        elif key.startswith(POINTS_PREFIX):
            doc["points"][key[len(POINTS_PREFIX) :]] = int(n)
        elif key.startswith(FILLED_PREFIX):
            doc["filled_by_split"][key[len(FILLED_PREFIX) :]] = int(n)
        elif key.startswith(MISSING_PREFIX):
            doc["missing_by_split"][key[len(MISSING_PREFIX) :]] = int(n)
        elif key.startswith(MISSING_GAPS_PREFIX):
            doc["missing_gaps_by_split"][key[len(MISSING_GAPS_PREFIX) :]] = int(n)
        elif key.startswith(WINDOWS_PREFIX):
            doc["windows"][key[len(WINDOWS_PREFIX) :]] = int(n)
        elif key.startswith(BORROWED_PREFIX):
            doc["borrowed_steps"][key[len(BORROWED_PREFIX) :]] = int(n)
        elif key.startswith(SERIES_PREFIX):
            doc["series_ids"].append(key[len(SERIES_PREFIX) :])
        elif key.startswith(STAT_PREFIX):
            doc["stats"][key[len(STAT_PREFIX) :]] = int(n)
        elif key.startswith(MAX_PREFIX):
            doc["stats"][key[len(MAX_PREFIX) :]] = int(n)
        elif key.startswith(FLOAT32_LOSS_PREFIX):
            names = ("series", "column", "low", "high", "max_error", "distinct",
                     "distinct_float32")  # fmt: skip
            doc["float32_loss"].append(
                dict(zip(names, json.loads(key[len(FLOAT32_LOSS_PREFIX) :]), strict=True))
            )
    doc["series_ids"].sort()
    doc["float32_loss"].sort(
        key=lambda e: (-e["max_error"] / (e["high"] - e["low"]), e["series"], e["column"])
    )
    doc["by_reason"] = dict(sorted(doc["by_reason"].items(), key=lambda kv: (-kv[1], kv[0])))
    return doc


class IngestSeries(beam.PTransform):
    """The whole ingestion: PBegin -> writes windows per split, rejections, and `counts_path`
    (JSON of counts_document). Every split gets at least one (possibly empty) shard. Reports
    rows read and windows made so far under `progress_key` (beam_progress.reporting; None:
    silent)."""

    def __init__(
        self,
        files: Sequence[str],
        config: IngestSeriesConfig,
        examples_uri: str,
        rejected_uri: str,
        counts_path: str,
        progress_key: str | None = None,
    ) -> None:
        super().__init__()
        self._files = sorted(files)
        self._config = config
        self._examples_uri = examples_uri.rstrip("/")
        self._rejected_uri = rejected_uri
        self._counts_path = counts_path
        self._progress_key = progress_key

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        config = self._config
        key = self._progress_key
        parsed = pbegin | "Read" >> ReadSeriesPoints(self._files, config)
        rejected_rows = parsed[REJECTED] | "ProgressRejected" >> ReportProgress(
            key, "reading", "rows"
        )
        windows = (
            parsed[POINTS]
            | "Progress" >> ReportProgress(key, "reading", "rows", weigh=_batch_rows)
            | "GroupBySeries" >> beam.GroupByKey()
            | "MakeWindows"
            >> beam.ParDo(MakeWindowsFn(config, self._files)).with_outputs(
                REJECTED, COUNTS, *(split_tag(s) for s in config.splits)
            )
        )
        for split in config.splits:
            _ = (
                windows[split_tag(split)]
                | f"Progress[{split}]" >> ReportProgress(key, "windowing", "windows")
                | f"Write[{split}]"
                >> beam.io.WriteToTFRecord(
                    split_prefix(self._examples_uri, split),
                    file_name_suffix=SHARD_SUFFIX,
                    compression_type=CompressionTypes.GZIP,
                    num_shards=config.num_shards,
                )
            )
        _ = (
            (rejected_rows, windows[REJECTED])
            | "AllRejections" >> beam.Flatten()
            | "WriteRejections" >> WriteRejections(self._rejected_uri)
        )
        return (
            (parsed[COUNTS], windows[COUNTS])
            | "AllCounts" >> beam.Flatten()
            | "GroupCounts" >> beam.GroupByKey()
            | "CombineCounts" >> beam.MapTuple(_combine)
            | "Gather" >> beam.combiners.ToList()
            | "WriteCounts" >> beam.ParDo(WriteJsonFn(self._counts_path, counts_document))
        )
