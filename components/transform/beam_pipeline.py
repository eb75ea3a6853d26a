"""The transform Beam pipeline: analyze the train split with TFT, transform every split, write.

The analysis reads the train split, the transform every split in one read; both read the gzip
TFRecords in lists of `batch_size` records (pipeline/tfrecord_batches.py) and decode each list
with tfx_bsl's ExamplesToRecordBatchDecoder, the decoder of TFT's fast path (tfx_bsl's
TFExampleRecord TFXIO), so FnApiRunner streams the data instead of holding it (see
AnalyzeAndTransformSplits). Neither read makes one Beam element per record: TFXIO's BeamSource
and ReadAllFromTFRecord both did, at ~43k records/s on 2 cores, which was most of the 115 s the
transform of 1.9M series windows took. TFT runs with output_record_batches=True
and the transformed record batches are encoded back to tf.Example with tfx_bsl's
RecordBatchToExamplesEncoder, so no per-instance Python dicts are built anywhere. All splits go
through one TransformDataset. Measured on 2 shared cores: ~6 CPU-seconds of fixed cost (TFT traces,
saves and loads SavedModels; Beam plans ~40 stages), then ~20k reviews/s of ~50 words.
Both reads pass through ReportProgress (pipeline/beam_progress.py), so a long run shows the
examples analyzed and transformed so far.

Layout written (see the artifact contract in the component):
    {transform_graph_uri}/transform_fn/, transformed_metadata/   tft_beam.WriteTransformFn
    {transform_graph_uri}/metadata/                               raw schema (write_raw_schema)
    {transformed_uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz     gzip tf.Example per split
"""

from __future__ import annotations

import fnmatch
import functools
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from seqline.pipeline.artifacts.examples import SHARD_SUFFIX, split_pattern, split_prefix
from seqline.pipeline.beam_progress import ReportProgress
from seqline.pipeline.tfrecord_batches import ReadTFRecordFiles, WriteTFRecordBatches
from seqline.schemas.text import LABEL_ID_KEY, raw_feature_spec
from seqline.storage import filesystem

METRICS_NAMESPACE = "seqline.transform"
TELEMETRY = ["seqline", "transform"]
# Passthrough column naming each raw record's split (never seen by the preprocessing_fn).
SPLIT_COLUMN = "__seqline_split__"
_SPLIT_TYPE = pa.large_list(pa.large_binary())


def raw_schema(feature_spec: Mapping[str, Any] | None = None) -> Any:
    """The tensorflow_metadata Schema of raw examples: from `feature_spec` (the validated
    schema's, see seqline.schemas.feature_spec), else schemas.text's default (text + label)."""
    return schema_utils.schema_from_feature_spec(dict(feature_spec or raw_feature_spec()))


def write_raw_schema(
    transform_graph_uri: str, feature_spec: Mapping[str, Any] | None = None
) -> None:
    """Writes the raw schema to `{uri}/metadata/`, where TFTransformOutput looks for it.

    tft_beam.WriteTransformFn does not write it, and TFTransformOutput.raw_feature_spec() (used
    by transform_features_layer) fails without it.
    """
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(raw_schema(feature_spec)),
        filesystem.join(transform_graph_uri, "metadata"),
    )


def _tag_split(batch: pa.RecordBatch, split: str) -> pa.RecordBatch:
    """Appends the SPLIT_COLUMN passthrough column ([split] on every row) to a raw batch."""
    column = pa.array([[split.encode()]] * batch.num_rows, type=_SPLIT_TYPE)
    return pa.RecordBatch.from_arrays(
        [*batch.columns, column], schema=batch.schema.append(pa.field(SPLIT_COLUMN, _SPLIT_TYPE))
    )


def _by_split(transformed: tuple[pa.RecordBatch, dict]) -> Iterator[tuple[str, pa.RecordBatch]]:
    """(transformed batch with SPLIT_COLUMN, passthrough dict) -> (split, batch without it)."""
    batch, _unary = transformed
    if batch.num_rows == 0:
        return
    splits = batch.column(SPLIT_COLUMN).flatten().to_numpy(zero_copy_only=False)
    data = batch.drop_columns([SPLIT_COLUMN])
    if (splits == splits[0]).all():  # the usual case: TFT keeps input batches, one split each
        yield splits[0].decode(), data
        return
    for split in sorted(set(splits.tolist())):
        yield split.decode(), data.filter(pa.array(splits == split))


class _Decode(beam.DoFn):
    """A list of serialized tf.Examples -> one raw RecordBatch, decoded by tfx_bsl's
    ExamplesToRecordBatchDecoder with the raw schema (the decoder TFXIO's TFExampleRecord
    uses, so the batches have the same Arrow schema as its)."""

    def __init__(self, serialized_schema: bytes) -> None:
        super().__init__()
        self._serialized_schema = serialized_schema

    def setup(self) -> None:
        self._decoder = example_coder.ExamplesToRecordBatchDecoder(self._serialized_schema)

    def process(self, records: list[bytes]) -> Iterator[pa.RecordBatch]:
        yield self._decoder.DecodeBatch(records)


class _DecodeTagged(_Decode):
    """(split, list of serialized tf.Examples of that split) -> raw RecordBatch with
    SPLIT_COLUMN. ReadTFRecordBatches(group=split) batches each split apart, so a batch never
    mixes splits."""

    def process(self, element: tuple[str, list[bytes]]) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        split, records = element
        yield _tag_split(self._decoder.DecodeBatch(records), split)


def _require_files(pattern: str) -> None:
    """OSError "No files found based on the file pattern ..." when `pattern` matches no file,
    raised while the pipeline is built, as TFXIO's analysis read (beam.io.ReadFromTFRecord,
    validate=True) raised it. MatchAll lets an empty wildcard match through, and an analysis of
    no records is not an error to TFT: a train split whose shards are missing (an incomplete
    artifact) failed text with a misleading "every text is empty" error, per-series scaling
    with TensorFlow's "Reduction axis 1 is empty" (no series analyzed), and succeeded, writing
    nothing, where the other splits had no windows either."""
    if not FileSystems.match([pattern], limits=[1])[0].metadata_list:
        raise OSError(f"No files found based on the file pattern {pattern}")


def _read_batches(
    patterns: list[str], batch_size: int, group: Callable[[str], str] | None = None
) -> beam.PTransform:
    """PBegin -> lists of at most `batch_size` records of the files matching `patterns`
    ((group, list) pairs with `group`), read by ReadTFRecordFiles."""

    @beam.ptransform_fn
    def read(pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Patterns" >> beam.Create(patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(operator.attrgetter("path"))
            | "Read" >> ReadTFRecordFiles(batch_size, group)
        )

    return read()


def _split_of(path: str, file_patterns: Mapping[str, str]) -> str:
    """The split whose file pattern `path` matches (patterns are disjoint: one folder each)."""
    for split, pattern in file_patterns.items():
        if fnmatch.fnmatchcase(path, pattern):
            return split
    raise ValueError(f"read {path}, which matches none of the split patterns {file_patterns}")


class AnalyzeAndTransformSplits(beam.PTransform):
    """PBegin -> (transform_fn, {split: PCollection[pa.RecordBatch] of transformed data}).

    Analyzes `train_split` with TFT (tft_beam.AnalyzeDataset over record batches decoded as
    tfx_bsl's TFExampleRecord TFXIO decodes them) and applies the transform_fn to all splits,
    train included, in ONE tft_beam.TransformDataset: each split's record batches carry the
    split name in a passthrough column (hidden from the preprocessing_fn) and are routed back
    by it afterwards.
    The same result as AnalyzeAndTransformDataset on train plus TransformDataset per other
    split, but TFT loads and runs the transform SavedModel once instead of once per split, which
    saves ~1-2 CPU-seconds per split. Must be applied inside
    tft_beam.Context(temp_dir=..., passthrough_keys={SPLIT_COLUMN}) (see `tft_context`).

    Memory stays flat as data grows (docs/benchmarks.md, bench/beam_memory.py): the records
    to transform come from ONE read of every split's files (ReadTFRecordBatches, the split
    told by the path), separate from the analysis read of the train split.
    Beam's FnApiRunner materialises in memory every PCollection that crosses a stage boundary;
    a Flatten of per-split reads, or a read shared with the analysis (whose result the
    transform waits for as a side input), is such a boundary, and held the whole dataset.
    One read feeding the transform fuses read -> transform -> encode -> write into one
    streaming stage, at the cost of reading the train split twice.

    Args:
        file_patterns: split name -> file pattern of that split's raw examples (gzip
            TFRecords of tf.Example; the patterns must match disjoint files).
        train_split: the split the vocabulary is computed on (a key of file_patterns).
        preprocessing_fn: see preprocessing.make_preprocessing_fn.
        feature_spec: raw feature spec to parse examples with (None = schemas.text's default).
        batch_size: rows per decoded record batch fed to the analysis and the transform
            (default 1,000).
        progress_key: reports the examples analyzed ("analyzing '<train_split>'") and read to
            transform ("transforming") so far under this key (beam_progress.reporting);
            None: silent.
    """

    def __init__(
        self,
        file_patterns: Mapping[str, str],
        train_split: str,
        preprocessing_fn: Callable[[dict[str, Any]], dict[str, Any]],
        feature_spec: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        progress_key: str | None = None,
    ) -> None:
        super().__init__()
        if train_split not in file_patterns:
            raise ValueError(f"train_split {train_split!r} not in splits {sorted(file_patterns)}")
        self._file_patterns = dict(file_patterns)
        self._train_split = train_split
        self._preprocessing_fn = preprocessing_fn
        self._feature_spec = feature_spec
        self._batch_size = batch_size
        self._progress_key = progress_key

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[Any, dict[str, beam.PCollection]]:
        schema = raw_schema(self._feature_spec)
        train = tfxio.TFExampleRecord(
            self._file_patterns[self._train_split], schema=schema, telemetry_descriptors=TELEMETRY
        )
        raw_config = train.TensorAdapterConfig()
        tagged_config = tfxio.TensorAdapterConfig(
            arrow_schema=raw_config.arrow_schema.append(pa.field(SPLIT_COLUMN, _SPLIT_TYPE)),
            tensor_representations=raw_config.tensor_representations,
        )
        key = self._progress_key
        serialized_schema = schema.SerializeToString()
        train_pattern = self._file_patterns[self._train_split]
        _require_files(train_pattern)
        analyzed = (
            pbegin
            | "ReadTrainForAnalysis" >> _read_batches([train_pattern], self._batch_size)
            | "DecodeTrain" >> beam.ParDo(_Decode(serialized_schema))
            | "AnalysisProgress"
            >> ReportProgress(
                key,
                f"analyzing '{self._train_split}'",
                "examples",
                weigh=operator.attrgetter("num_rows"),
            )
        )
        transform_fn = (analyzed, raw_config) | "Analyze" >> tft_beam.AnalyzeDataset(
            self._preprocessing_fn
        )
        patterns = self._file_patterns
        everything = (
            pbegin
            | "ReadAllSplits"
            >> _read_batches(
                sorted(set(patterns.values())),
                self._batch_size,
                group=functools.partial(_split_of, file_patterns=patterns),
            )
            | "TransformProgress"
            >> ReportProgress(key, "transforming", "examples", weigh=lambda kv: len(kv[1]))
            | "Decode" >> beam.ParDo(_DecodeTagged(serialized_schema))
        )
        transformed, _ = ((everything, tagged_config), transform_fn) | "Transform" >> (
            tft_beam.TransformDataset(output_record_batches=True)
        )
        splits = list(self._file_patterns)
        routed = (
            transformed
            | "BySplit" >> beam.FlatMap(_by_split)
            | "Route" >> beam.Partition(lambda kv, _n: splits.index(kv[0]), len(splits))
        )
        batches = {
            split: routed[i] | f"Batches[{split}]" >> beam.Values()
            for i, split in enumerate(splits)
        }
        return transform_fn, batches


def tft_context(temp_dir: str) -> tft_beam.Context:
    """The TFT context AnalyzeAndTransformSplits must be applied in."""
    return tft_beam.Context(temp_dir=temp_dir, passthrough_keys={SPLIT_COLUMN})


def _nonfinite_rows(batch: pa.RecordBatch) -> np.ndarray:
    """bool [num_rows]: rows with a NaN or infinite value in any floating-point list column."""
    bad = np.zeros(batch.num_rows, dtype=bool)
    for column in batch.columns:
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
            continue
        if not pa.types.is_floating(column.type.value_type):
            continue
        values = column.flatten().to_numpy(zero_copy_only=False)
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
            bad[np.unique(parents[nonfinite])] = True
    return bad


class _EncodeExamples(beam.DoFn):
    """Transformed record batches -> lists of serialized tf.Example (one list per batch, for
    WriteTFRecordBatches), counting and dropping bad rows.

    A label_id of -1 means the label name is not in the label list (the Examples artifact said
    otherwise): those rows are dropped and counted under "unknown_label[split]". A row with a
    NaN or infinite transformed float (series: log1p of a value <= -1) is dropped and counted
    under "nonfinite[split]". The component turns non-zero counts into a DataError.
    """

    def __init__(self, split: str) -> None:
        super().__init__()
        self.split = split

    def setup(self) -> None:
        self._encoder = example_coder.RecordBatchToExamplesEncoder()
        self._written = Metrics.counter(METRICS_NAMESPACE, f"examples[{self.split}]")
        self._unknown = Metrics.counter(METRICS_NAMESPACE, f"unknown_label[{self.split}]")
        self._nonfinite = Metrics.counter(METRICS_NAMESPACE, f"nonfinite[{self.split}]")

    def process(self, batch: pa.RecordBatch) -> Iterator[list[bytes]]:
        if LABEL_ID_KEY in batch.schema.names:
            # Each label_id row is a one-element list (FixedLenFeature []); flatten is 1:1.
            label_ids = batch.column(LABEL_ID_KEY).flatten().to_numpy(zero_copy_only=False)
            known = label_ids >= 0
            if not known.all():
                self._unknown.inc(int((~known).sum()))
                batch = batch.filter(pa.array(known))
        bad = _nonfinite_rows(batch)
        if bad.any():
            self._nonfinite.inc(int(bad.sum()))
            batch = batch.filter(pa.array(~bad))
        self._written.inc(batch.num_rows)
        if batch.num_rows:
            yield self._encoder.encode(batch)


class WriteTransformedSplit(beam.PTransform):
    """PCollection[pa.RecordBatch] -> gzip TFRecords `{transformed_uri}/{split}/data-*`."""

    def __init__(self, transformed_uri: str, split: str) -> None:
        super().__init__()
        self._prefix = split_prefix(transformed_uri, split)
        self._split = split

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return (
            batches
            | "Encode" >> beam.ParDo(_EncodeExamples(self._split))
            # The ".gz" suffix makes the sink (compression AUTO) write gzip.
            | "Write" >> WriteTFRecordBatches(self._prefix, file_name_suffix=SHARD_SUFFIX)
        )


@dataclass(frozen=True)
class TransformResult:
    """What one run of the transform pipeline wrote.

    Attributes:
        counts: split -> number of transformed examples written.
        unknown_labels: split -> number of examples dropped because their label is not in the
            label list (non-zero only for corrupted Examples artifacts).
        nonfinite: split -> number of examples dropped because a transformed float was NaN or
            infinite.
    """

    counts: dict[str, int]
    unknown_labels: dict[str, int]
    nonfinite: dict[str, int] = field(default_factory=dict)


def _counter(result: Any, name: str) -> int:
    query = MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name)
    found = result.metrics().query(query)
    total = 0
    for counter in found["counters"]:
        # Some runners only report attempted values; committed is exact where supported.
        value = counter.committed if counter.committed is not None else counter.attempted
        total += int(value or 0)
    return total


def run_transform_pipeline(
    *,
    examples_uri: str,
    splits: list[str],
    train_split: str,
    preprocessing_fn: Callable[[dict[str, Any]], dict[str, Any]],
    transform_graph_uri: str,
    transformed_uri: str,
    tft_temp_dir: str,
    options: Any = None,
    feature_spec: Mapping[str, Any] | None = None,
    progress_key: str | None = None,
) -> TransformResult:
    """Builds and runs the whole pipeline; blocks until it is done.

    Args:
        examples_uri: Examples artifact directory ({split}/data-*-of-*.tfrecord.gz inside).
        splits: the splits to transform; must contain `train_split`.
        train_split: the split the vocabulary is computed on.
        preprocessing_fn: see preprocessing.make_preprocessing_fn.
        transform_graph_uri: where the TFT output and the raw schema go.
        transformed_uri: where the transformed TFRecords go, one sub-folder per split.
        tft_temp_dir: TFT's scratch directory (must be reachable from Beam workers).
        options: apache_beam PipelineOptions (None = Beam's defaults).
        feature_spec: raw feature spec from the validated schema (None = schemas.text's).
        progress_key: where to report the examples analyzed and transformed so far
            (beam_progress.reporting; None: silent).

    Returns:
        TransformResult with per-split counts.
    """
    pipeline = beam.Pipeline(options=options)
    with tft_context(tft_temp_dir):
        transform_fn, batches = pipeline | "AnalyzeAndTransformSplits" >> AnalyzeAndTransformSplits(
            {split: split_pattern(examples_uri, split) for split in splits},
            train_split,
            preprocessing_fn,
            feature_spec,
            progress_key=progress_key,
        )
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_graph_uri)
        for split, data in batches.items():
            _ = data | f"Write[{split}]" >> WriteTransformedSplit(transformed_uri, split)
    result = pipeline.run()
    result.wait_until_finish()
    write_raw_schema(transform_graph_uri, feature_spec)
    return TransformResult(
        counts={split: _counter(result, f"examples[{split}]") for split in splits},
        unknown_labels={split: _counter(result, f"unknown_label[{split}]") for split in splits},
        nonfinite={split: _counter(result, f"nonfinite[{split}]") for split in splits},
    )


# What TFT writes as the only entry of a vocabulary that learned nothing (so lookup tables
# still initialize): tensorflow_transform.analyzers.get_empy_vocabulary_dummy_value.
EMPTY_VOCABULARY_PLACEHOLDER = "49d0cd50-04bb-48c0-bc6f-5b575dce351a"


def vocabulary_size(transform_graph_uri: str, vocab_name: str) -> int:
    """Number of entries in the learned vocabulary `vocab_name` (padding and OOV not included;
    TFT's placeholder counts: ids are laid out over it)."""
    return int(tft.TFTransformOutput(transform_graph_uri).vocabulary_size_by_name(vocab_name))


def vocabulary_is_empty(transform_graph_uri: str, vocab_name: str) -> bool:
    """True when TFT learned nothing for `vocab_name` and wrote only its placeholder entry."""
    output = tft.TFTransformOutput(transform_graph_uri)
    return output.vocabulary_by_name(vocab_name) == [EMPTY_VOCABULARY_PLACEHOLDER.encode()]
