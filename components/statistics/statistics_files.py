"""The ExampleStatistics artifact's files, and lookups into its proto.

    {uri}/statistics.pb       DatasetFeatureStatisticsList, binary (what tools load)
    {uri}/statistics.pbtxt    the same in text format (what a person greps)
    {uri}/report/index.html   summary with PNG histograms (report.py)

One DatasetFeatureStatistics per split, `name` = the split name. Only protobuf and
tensorflow_metadata here, so validate and tests read statistics without Beam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqline.pipeline.artifacts import ExampleStatistics
from seqline.storage import filesystem

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import statistics_pb2

STATISTICS_PB = ExampleStatistics.STATISTICS_PB
STATISTICS_PBTXT = ExampleStatistics.STATISTICS_PBTXT
REPORT_DIR = ExampleStatistics.REPORT_DIR


def write_statistics(stats: statistics_pb2.DatasetFeatureStatisticsList, directory: str) -> None:
    """Writes statistics.pb and statistics.pbtxt into `directory` (local or gs:// / s3://)."""
    from apache_beam.io.filesystems import FileSystems  # noqa: PLC0415
    from google.protobuf import text_format  # noqa: PLC0415

    with FileSystems.create(filesystem.join(directory, STATISTICS_PB)) as f:
        f.write(stats.SerializeToString())
    with FileSystems.create(filesystem.join(directory, STATISTICS_PBTXT)) as f:
        f.write(text_format.MessageToString(stats).encode("utf-8"))


def read_statistics(directory: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Reads `{directory}/statistics.pb` (an ExampleStatistics artifact's uri)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    path = filesystem.join(directory, STATISTICS_PB)
    if filesystem.is_remote(path):
        import tensorflow as tf  # noqa: PLC0415

        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(data)


def split_statistics(
    stats: statistics_pb2.DatasetFeatureStatisticsList, split: str
) -> statistics_pb2.DatasetFeatureStatistics | None:
    """The statistics of split `split`, or None."""
    for dataset in stats.datasets:
        if dataset.name == split:
            return dataset
    return None


def feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    """A feature's name (path steps joined with '.'; falls back to the legacy `name`)."""
    return ".".join(feature.path.step) if feature.path.step else feature.name


def features_by_name(
    dataset: statistics_pb2.DatasetFeatureStatistics,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    return {feature_name(f): f for f in dataset.features}


def common_stats(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    """The CommonStatistics wherever this feature's type keeps them."""
    if feature.HasField("num_stats"):
        return feature.num_stats.common_stats
    if feature.HasField("bytes_stats"):
        return feature.bytes_stats.common_stats
    return feature.string_stats.common_stats


def custom_stat(
    feature: statistics_pb2.FeatureNameStatistics, name: str
) -> statistics_pb2.CustomStatistic | None:
    for stat in feature.custom_stats:
        if stat.name == name:
            return stat
    return None


def custom_num(
    feature: statistics_pb2.FeatureNameStatistics, name: str, default: float = 0.0
) -> float:
    stat = custom_stat(feature, name)
    return stat.num if stat is not None else default


def value_counts(feature: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    """String value -> count from the rank histogram (all tracked values)."""
    return {b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets}


def histogram(
    feature: statistics_pb2.FeatureNameStatistics, kind: str = "STANDARD"
) -> statistics_pb2.Histogram | None:
    """The numeric STANDARD / QUANTILES histogram of a numeric feature."""
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    wanted = statistics_pb2.Histogram.HistogramType.Value(kind)
    for hist in feature.num_stats.histograms:
        if hist.type == wanted:
            return hist
    return None
