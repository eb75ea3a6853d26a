"""Shared helpers for the statistics / schema / validate tests: build tf.Examples and Examples
artifacts from plain dicts, and compute statistics directly (no Beam) with the same combiner
logic the component runs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqline.components.statistics.config import StatisticsConfig
from seqline.pipeline.artifact import Artifact, ArtifactType

Record = Mapping[str, Any]  # feature -> scalar or list of int / float / str / bytes


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def serialize(record: Record) -> bytes:
    """A tf.Example from {feature: value or list}: ints -> int64_list, floats -> float_list,
    str/bytes -> bytes_list; an empty list -> a Feature with no kind set; an empty numpy array
    -> an empty list of its kind (int64 / float)."""
    import numpy as np
    import tensorflow as tf

    feature = {}
    for name, value in record.items():
        if isinstance(value, np.ndarray) and value.size == 0:
            if value.dtype.kind == "i":
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[]))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[]))
            continue
        values = _values(value)
        if not values:
            feature[name] = tf.train.Feature()
        elif isinstance(values[0], bool | int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        elif isinstance(values[0], float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            raw = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=raw))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_examples(
    uri: str | Path, splits: Mapping[str, Sequence[Record]], labels: Sequence[str] = ()
) -> Artifact:
    """An Examples artifact at `uri` in ingest_text's layout (one gzip shard per split)."""
    import tensorflow as tf

    for split, records in splits.items():
        folder = os.path.join(uri, split)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "data-00000-of-00001.tfrecord.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for record in records:
                writer.write(serialize(record))
    return Artifact(
        ArtifactType.EXAMPLES,
        str(uri),
        "fp-examples",
        properties={
            "splits": list(splits),
            "counts": {k: len(v) for k, v in splits.items()},
            "labels": list(labels),
        },
    )


def direct_statistics(
    splits: Mapping[str, Sequence[Record]],
    config: StatisticsConfig | None = None,
    batch_size: int = 7,
):
    """DatasetFeatureStatisticsList computed without Beam: the same accumulators, fed in
    batches of `batch_size` (small, so merging across batches is exercised)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from tfx_bsl.coders import example_coder

    from seqline.components.statistics.feature_stats import DatasetAccumulator
    from seqline.components.statistics.series_stats import (
        SeriesChunk,
        SeriesSummaryAccumulator,
        series_chunks,
        summarize_series,
    )
    from seqline.components.statistics.statistics_proto import dataset_statistics
    from seqline.components.statistics.transforms import sketch_options

    config = config or StatisticsConfig()
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for split, records in splits.items():
        serialized = [serialize(r) for r in records]
        total = DatasetAccumulator(sketch_options(config))
        per_series: dict[str, SeriesChunk] = {}
        for start in range(0, len(serialized), batch_size):
            batch = decoder.DecodeBatch(serialized[start : start + batch_size])
            part = DatasetAccumulator(sketch_options(config))
            part.add_batch(batch)
            total.merge(part)
            if config.timestamp_feature:
                for key, chunk in series_chunks(
                    batch, config.timestamp_feature, config.series_id_feature
                ):
                    per_series.setdefault(key, SeriesChunk()).merge(chunk)
        series = None
        if config.timestamp_feature:
            series = SeriesSummaryAccumulator(quantiles_epsilon=config.quantiles_epsilon)
            for chunk in per_series.values():
                series.add(summarize_series(chunk))
        out.datasets.append(
            dataset_statistics(
                split,
                total,
                num_quantiles=config.num_quantiles,
                num_histogram_buckets=config.num_histogram_buckets,
                top_k=config.top_k,
                series=series,
                timestamp_feature=config.timestamp_feature,
            )
        )
    return out


def run_statistics(
    tmp_path: Path, examples: Artifact, config: StatisticsConfig | None = None, name: str = "stats"
) -> tuple[dict, Artifact]:
    """Runs the statistics executor like the runner does (fresh output dir, scratch dir)."""
    from seqline.components.statistics.component import COMPONENT
    from tests.components.context import make_context

    out = Artifact(ArtifactType.STATISTICS, str(tmp_path / name), f"fp-{name}")
    os.makedirs(out.uri)
    scratch = tmp_path / f"{name}-tmp"
    scratch.mkdir()
    ctx = make_context(
        config=config or StatisticsConfig(),
        inputs={"examples": examples},
        outputs={"statistics": out},
        temp_dir=str(scratch),
    )
    return dict(COMPONENT.executor(ctx)), out
