"""The Beam side of ingest_text: composite PTransforms over the pure parsers.

    files --ReadTextRecords--> records (main) | rejected | counts
    records --WriteExamples--> {examples}/{split}/data-*-of-*.tfrecord.gz (tf.Example text,label)
                               | counts
    rejected --WriteRejections--> {rejected}/rejected-*.jsonl
    counts --SumCounts--> one JSON file (input, per split, rejected, by reason, skipped)

Records and rejections both pass through ReportProgress (label "reading"), which shows the
records read so far while the pipeline runs (pipeline/beam_progress.py).

Counting: each DoFn counts in a dict for its bundle and emits (key, n) pairs when the bundle
finishes, which costs nothing per element (a Count transform would add two Beam steps per
record). `input` and the rejection reasons are counted by the parser; the per-split counts by
the step that serializes the examples, so `input == accepted + rejected` checks that no record
was lost between the two. `IngestText` wires everything. Only executed code imports this module
(apache_beam is imported at top).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes

from seqline.components.ingest_text import parsing
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.records import Record, RecordRules, Rejection
from seqline.pipeline.artifacts.examples import SHARD_SUFFIX, split_prefix
from seqline.pipeline.beam_io import (
    COUNTS,
    BundleCounter,
    WriteJsonFn,
    WriteRejections,
    open_stream,
)
from seqline.pipeline.beam_progress import ReportProgress
from seqline.schemas.text import LABEL_KEY, TEXT_KEY

RECORDS = "records"
REJECTED = "rejected"

# Keys of the (key, n) count pairs and of the counts JSON.
INPUT = "input"
SPLIT_PREFIX = "split:"
REASON_PREFIX = "reason:"
SKIPPED_PREFIX = "skipped:"


class ParseSourceFileFn(beam.DoFn):
    """ReadableFile -> Record (main output), Rejection (tag REJECTED), (key, n) counts (tag
    COUNTS: "input", "reason:<code>", "skipped:<reason>").

    Streams the file through the format's parser, so a file of any size is read in constant
    memory; one bad record becomes one Rejection and the rest of the file still parses.
    """

    def __init__(self, config: IngestTextConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._rules = RecordRules(self._config)

    def start_bundle(self) -> None:
        self._counter = BundleCounter(COUNTS)

    def _parse(self, readable_file: fileio.ReadableFile) -> Iterator[parsing.Parsed]:
        path = readable_file.metadata.path
        fmt = self._config.format
        with open_stream(readable_file) as stream:
            if fmt == "aclimdb":
                head, size = parsing.read_capped(stream, self._config.max_record_bytes)
                yield parsing.parse_aclimdb_file(head, path, self._config, self._rules, size)
            elif fmt == "jsonl":
                yield from parsing.parse_jsonl(stream, path, self._config)
            else:  # csv, movie_reviews
                yield from parsing.parse_csv(stream, path, self._config)

    def process(self, readable_file: fileio.ReadableFile) -> Iterator[Any]:
        counts = self._counter.counts
        for item in self._parse(readable_file):
            if isinstance(item, Record):
                counts[INPUT] += 1
                yield item
            elif isinstance(item, Rejection):
                counts[INPUT] += 1
                counts[REASON_PREFIX + item.reason] += 1
                yield beam.pvalue.TaggedOutput(REJECTED, item)
            else:  # Skipped: not a record, only counted
                counts[SKIPPED_PREFIX + item.reason] += 1

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._counter.emit()


class ReadTextRecords(beam.PTransform):
    """PBegin -> DoOutputsTuple with RECORDS (Record), REJECTED (Rejection) and COUNTS
    ((key, n) pairs, several per key: sum them), reading the given, already matched files (see
    sources.resolve_source)."""

    def __init__(self, files: Sequence[str], config: IngestTextConfig) -> None:
        super().__init__()
        self._files = list(files)
        self._config = config

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            # Spread files over workers (cheap: only paths are shuffled, never records).
            | "SpreadFiles" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches(compression=CompressionTypes.AUTO)
            | "Parse"
            >> beam.ParDo(ParseSourceFileFn(self._config)).with_outputs(
                REJECTED, COUNTS, main=RECORDS
            )
        )


class SerializeBySplitFn(beam.DoFn):
    """Record -> serialized tf.Example (bytes features "text", "label" = label name) on the
    output tagged with the record's split; (f"split:{name}", n) counts on tag COUNTS."""

    def setup(self) -> None:
        import tensorflow as tf  # noqa: PLC0415 — heavy; only workers that write pay for it

        self._train = tf.train

    def start_bundle(self) -> None:
        self._counter = BundleCounter(COUNTS)

    def process(self, record: Record) -> Iterator[beam.pvalue.TaggedOutput]:
        train = self._train
        example = train.Example(
            features=train.Features(
                feature={
                    TEXT_KEY: train.Feature(
                        bytes_list=train.BytesList(value=[record.text.encode("utf-8")])
                    ),
                    LABEL_KEY: train.Feature(
                        bytes_list=train.BytesList(value=[record.label.encode("utf-8")])
                    ),
                }
            )
        )
        self._counter.counts[SPLIT_PREFIX + record.split] += 1
        yield beam.pvalue.TaggedOutput(record.split, example.SerializeToString())

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._counter.emit()


class WriteExamples(beam.PTransform):
    """PCollection[Record] -> `{uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz` per split (gzip
    TFRecord of tf.Example); returns the (f"split:{name}", n) count pairs. An empty split still
    gets one empty shard, so downstream globs always match."""

    def __init__(self, uri: str, splits: Sequence[str], num_shards: int = 0) -> None:
        super().__init__()
        self._uri = uri.rstrip("/")
        self._splits = list(splits)
        self._num_shards = num_shards

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        serialized = records | "Serialize" >> beam.ParDo(SerializeBySplitFn()).with_outputs(
            COUNTS, *self._splits
        )
        for split in self._splits:
            _ = serialized[split] | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                split_prefix(self._uri, split),
                file_name_suffix=SHARD_SUFFIX,
                compression_type=CompressionTypes.GZIP,
                num_shards=self._num_shards,
            )
        return serialized[COUNTS]


def counts_document(pairs: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """[(key, n)] from CountIngest -> {"input", "splits", "rejected", "by_reason", "skipped"}."""
    doc: dict[str, Any] = {"input": 0, "splits": {}, "rejected": 0, "by_reason": {}, "skipped": {}}
    for key, n in pairs:
        if key == INPUT:
            doc["input"] = int(n)
        elif key.startswith(SPLIT_PREFIX):
            doc["splits"][key[len(SPLIT_PREFIX) :]] = int(n)
        elif key.startswith(REASON_PREFIX):
            doc["by_reason"][key[len(REASON_PREFIX) :]] = int(n)
            doc["rejected"] += int(n)
        elif key.startswith(SKIPPED_PREFIX):
            doc["skipped"][key[len(SKIPPED_PREFIX) :]] = int(n)
    doc["by_reason"] = dict(sorted(doc["by_reason"].items(), key=lambda kv: (-kv[1], kv[0])))
    return doc


class IngestText(beam.PTransform):
    """The whole ingestion: PBegin -> writes examples, rejections and `counts_path` (JSON of
    counts_document); reports the records read so far under `progress_key`
    (beam_progress.reporting; None: silent)."""

    def __init__(
        self,
        files: Sequence[str],
        config: IngestTextConfig,
        examples_uri: str,
        rejected_uri: str,
        counts_path: str,
        progress_key: str | None = None,
    ) -> None:
        super().__init__()
        self._files = list(files)
        self._config = config
        self._examples_uri = examples_uri
        self._rejected_uri = rejected_uri
        self._counts_path = counts_path
        self._progress_key = progress_key

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        parsed = pbegin | "Read" >> ReadTextRecords(self._files, self._config)
        key = self._progress_key
        records = parsed[RECORDS] | "Progress" >> ReportProgress(key, "reading")
        rejections = parsed[REJECTED] | "ProgressRejected" >> ReportProgress(key, "reading")
        split_counts = records | "WriteExamples" >> WriteExamples(
            self._examples_uri, self._config.output_splits(), self._config.num_shards
        )
        _ = rejections | "WriteRejections" >> WriteRejections(self._rejected_uri)
        return (
            (parsed[COUNTS], split_counts)
            | "AllCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "Gather" >> beam.combiners.ToList()
            | "WriteCounts" >> beam.ParDo(WriteJsonFn(self._counts_path, counts_document))
        )
