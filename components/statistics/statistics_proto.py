"""Accumulators -> tensorflow_metadata DatasetFeatureStatistics (the format TFDV and Facets read).

Layout per feature (path = [name]):
    type            INT / FLOAT / STRING (BYTES if any value is not UTF-8)
    common_stats    num_non_missing, num_missing, min/max/avg/tot num_values
    num_stats       mean, std_dev (population), num_zeros, min, median, max, histograms
                    [STANDARD (equal width), QUANTILES (equal counts)]; NaN in num_nan
    string_stats    unique (KMV), top_values, rank_histogram (all tracked values for
                    categorical features, the top_k for text), avg_length (characters),
                    invalid_utf8_count
    custom_stats    numeric: num_nan, num_pos_inf, num_neg_inf
                    strings: char_length_quantiles / char_length_histogram
                    text: token_length_quantiles / token_length_histogram, avg_num_tokens,
                          num_empty (values without any token)
                    conflicting_type_values (values of another type than `type`)
                    series (timestamp feature): see SERIES_STATS below
Custom stat names are this module's constants; validate and the HTML report read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from seqline.components.statistics.feature_stats import (
    DatasetAccumulator,
    FeatureAccumulator,
    NumericAccumulator,
)
from seqline.components.statistics.series_stats import GridCounts, SeriesSummaryAccumulator

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import statistics_pb2

NUM_NAN = "num_nan"
NUM_POS_INF = "num_pos_inf"
NUM_NEG_INF = "num_neg_inf"
CHAR_LENGTH_QUANTILES = "char_length_quantiles"
CHAR_LENGTH_HISTOGRAM = "char_length_histogram"
TOKEN_LENGTH_QUANTILES = "token_length_quantiles"
TOKEN_LENGTH_HISTOGRAM = "token_length_histogram"
AVG_NUM_TOKENS = "avg_num_tokens"
NUM_EMPTY = "num_empty"
CONFLICTING_TYPE_VALUES = "conflicting_type_values"

SERIES_COUNT = "series_count"
SERIES_LENGTH_MIN = "series_length_min"
SERIES_LENGTH_MAX = "series_length_max"
SERIES_LENGTH_MEAN = "series_length_mean"
SERIES_LENGTH_QUANTILES = "series_length_quantiles"
SERIES_FREQUENCY = "series_frequency"  # most common per-series step
SERIES_STEPS = "series_steps"  # rank histogram: step -> number of series
SERIES_WITHOUT_STEP = "series_without_step"
SERIES_SPACINGS = "series_spacings"
SERIES_GAPS = "series_gaps"
SERIES_MISSING_STEPS = "series_missing_steps"
SERIES_IRREGULAR_SPACINGS = "series_irregular_spacings"
SERIES_DUPLICATE_TIMESTAMPS = "series_duplicate_timestamps"
SERIES_OUT_OF_ORDER_EXAMPLES = "series_out_of_order_examples"
# The split's regular grid as ingest_series made it (copied from the Examples' gaps counts by
# the statistics node, series_stats.GridCounts): its steps (real + filled + missing), the
# missing steps left unfilled and the gaps they are in. Absent in statistics written before
# they were copied, or of data ingest_series did not make; the window-based series_gaps /
# series_missing_steps above count window ends instead.
SERIES_GRID_STEPS = "series_grid_steps"
SERIES_GRID_MISSING_STEPS = "series_grid_missing_steps"
SERIES_GRID_GAPS = "series_grid_gaps"

# Fine quantile grid from which equal-width histograms are interpolated.
_CDF_POINTS = 200


def _quantiles(sketch, num: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(values, cumulative counts) at num + 1 evenly spaced ranks, min and max included."""
    values, weights = sketch.GetQuantilesAndCumulativeWeights(num)
    return (
        np.asarray(values.flatten().to_numpy(zero_copy_only=False), dtype=np.float64),
        np.asarray(weights.flatten().to_numpy(zero_copy_only=False), dtype=np.float64),
    )


def quantiles_histogram(sketch, num_buckets: int, total: int) -> statistics_pb2.Histogram:  # noqa: ANN001
    """QUANTILES histogram: `num_buckets` buckets of total/num_buckets values each."""
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    histogram = statistics_pb2.Histogram(type=statistics_pb2.Histogram.QUANTILES)
    if sketch is None or total == 0:
        return histogram
    cuts, _ = _quantiles(sketch, num_buckets)
    for low, high in zip(cuts[:-1], cuts[1:], strict=True):
        histogram.buckets.add(
            low_value=float(low), high_value=float(high), sample_count=total / num_buckets
        )
    return histogram


def standard_histogram(sketch, num_buckets: int, total: int) -> statistics_pb2.Histogram:  # noqa: ANN001
    """STANDARD histogram: `num_buckets` equal-width buckets from min to max (a value on an
    inner edge counts in the bucket below it; the first bucket includes the min).

    Counts come from the sketch's cumulative distribution at 200 evenly spaced ranks, read as a
    step function (so discrete data such as token counts stays on its values): each bucket's
    count is within 2 * (epsilon + 1/200) * total of the true one."""
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    histogram = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    if sketch is None or total == 0:
        return histogram
    values, cumulative = _quantiles(sketch, _CDF_POINTS)
    low, high = float(values[0]), float(values[-1])
    if high == low:
        histogram.buckets.add(low_value=low, high_value=high, sample_count=float(total))
        return histogram
    # Count of values <= e: the cumulative weight of the largest quantile point <= e (ties:
    # the last one, which carries the largest weight).
    edges = np.linspace(low, high, num_buckets + 1)
    index = np.searchsorted(values, edges, side="right") - 1
    below = np.where(index >= 0, cumulative[np.clip(index, 0, None)], 0.0)
    below[0], below[-1] = 0.0, float(total)
    counts = np.diff(np.maximum.accumulate(below))
    for i in range(num_buckets):
        histogram.buckets.add(
            low_value=float(edges[i]), high_value=float(edges[i + 1]), sample_count=float(counts[i])
        )
    return histogram


def _custom_num(feature: statistics_pb2.FeatureNameStatistics, name: str, value: float) -> None:
    feature.custom_stats.add(name=name, num=float(value))


def _custom_histogram(
    feature: statistics_pb2.FeatureNameStatistics, name: str, histogram: statistics_pb2.Histogram
) -> None:
    feature.custom_stats.add(name=name).histogram.CopyFrom(histogram)


def _fill_common(common: statistics_pb2.CommonStatistics, acc: FeatureAccumulator, n: int) -> None:
    common.num_non_missing = acc.present
    common.num_missing = n - acc.present
    common.min_num_values = max(acc.min_num_values, 0)
    common.max_num_values = acc.max_num_values
    common.tot_num_values = acc.num_values
    common.avg_num_values = acc.num_values / acc.present if acc.present else 0.0


def _fill_numeric(
    feature: statistics_pb2.FeatureNameStatistics,
    acc: NumericAccumulator,
    num_quantiles: int,
    num_buckets: int,
) -> None:
    stats = feature.num_stats
    finite = acc.moments.count
    if finite:
        stats.mean = acc.moments.mean
        stats.std_dev = acc.moments.std
        stats.min, stats.max = acc.min, acc.max
        stats.median = float(_quantiles(acc.quantiles, 2)[0][1])
    stats.num_zeros = acc.zeros
    standard = standard_histogram(acc.quantiles, num_buckets, finite)
    standard.num_nan = acc.nan
    stats.histograms.append(standard)
    quantiles = quantiles_histogram(acc.quantiles, num_quantiles, finite)
    quantiles.num_nan = acc.nan
    stats.histograms.append(quantiles)
    _custom_num(feature, NUM_NAN, acc.nan)
    _custom_num(feature, NUM_POS_INF, acc.pos_inf)
    _custom_num(feature, NUM_NEG_INF, acc.neg_inf)


def _fill_string(
    feature: statistics_pb2.FeatureNameStatistics,
    acc: FeatureAccumulator,
    top_k: int,
    num_quantiles: int,
    num_buckets: int,
) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    string = acc.string
    assert string is not None, "a bytes feature's accumulator always has string statistics"
    stats = feature.string_stats
    if string.invalid_utf8:
        feature.type = statistics_pb2.FeatureNameStatistics.BYTES
    stats.invalid_utf8_count = string.invalid_utf8
    if string.frequent is None or string.distinct is None:
        return
    stats.unique = int(string.distinct.Estimate())
    stats.avg_length = string.total_chars / string.count if string.count else 0.0
    ranked = string.frequent.Estimate().to_pylist()
    for rank, entry in enumerate(ranked):
        label = entry["values"].decode("utf-8", "replace")
        count = float(entry["counts"])
        if rank < top_k:
            stats.top_values.add(value=label, frequency=count)
        if rank < top_k or not string.is_text:
            stats.rank_histogram.buckets.add(
                low_rank=rank, high_rank=rank, label=label, sample_count=count
            )
    _custom_histogram(
        feature,
        CHAR_LENGTH_QUANTILES,
        quantiles_histogram(string.char_lengths, num_quantiles, string.count),
    )
    _custom_histogram(
        feature,
        CHAR_LENGTH_HISTOGRAM,
        standard_histogram(string.char_lengths, num_buckets, string.count),
    )
    if string.is_text:
        _custom_histogram(
            feature,
            TOKEN_LENGTH_QUANTILES,
            quantiles_histogram(string.token_lengths, num_quantiles, string.count),
        )
        _custom_histogram(
            feature,
            TOKEN_LENGTH_HISTOGRAM,
            standard_histogram(string.token_lengths, num_buckets, string.count),
        )
        _custom_num(
            feature, AVG_NUM_TOKENS, string.total_tokens / string.count if string.count else 0.0
        )
        _custom_num(feature, NUM_EMPTY, string.empty)


def _fill_series(
    feature: statistics_pb2.FeatureNameStatistics,
    series: SeriesSummaryAccumulator,
    num_quantiles: int,
) -> None:
    _custom_num(feature, SERIES_COUNT, series.series)
    _custom_num(feature, SERIES_LENGTH_MIN, max(series.min_length, 0))
    _custom_num(feature, SERIES_LENGTH_MAX, series.max_length)
    _custom_num(
        feature, SERIES_LENGTH_MEAN, series.total_length / series.series if series.series else 0
    )
    _custom_histogram(
        feature,
        SERIES_LENGTH_QUANTILES,
        quantiles_histogram(series.lengths, num_quantiles, series.series),
    )
    steps = series.step_counts()
    if steps:
        _custom_num(feature, SERIES_FREQUENCY, steps[0][0])
    ranked = feature.custom_stats.add(name=SERIES_STEPS).rank_histogram
    for rank, (step, count) in enumerate(steps):
        ranked.buckets.add(low_rank=rank, high_rank=rank, label=repr(step), sample_count=count)
    _custom_num(feature, SERIES_WITHOUT_STEP, series.no_step)
    _custom_num(feature, SERIES_SPACINGS, series.spacings)
    _custom_num(feature, SERIES_GAPS, series.gaps)
    _custom_num(feature, SERIES_MISSING_STEPS, series.missing_steps)
    _custom_num(feature, SERIES_IRREGULAR_SPACINGS, series.irregular)
    _custom_num(feature, SERIES_DUPLICATE_TIMESTAMPS, series.duplicates)
    _custom_num(feature, SERIES_OUT_OF_ORDER_EXAMPLES, series.out_of_order)


def dataset_statistics(
    name: str,
    acc: DatasetAccumulator,
    *,
    num_quantiles: int = 10,
    num_histogram_buckets: int = 20,
    top_k: int = 20,
    series: SeriesSummaryAccumulator | None = None,
    timestamp_feature: str | None = None,
) -> statistics_pb2.DatasetFeatureStatistics:
    """The DatasetFeatureStatistics of one split (`name`), features sorted by name."""
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    kinds = {
        "int": statistics_pb2.FeatureNameStatistics.INT,
        "float": statistics_pb2.FeatureNameStatistics.FLOAT,
        "bytes": statistics_pb2.FeatureNameStatistics.STRING,
    }
    out = statistics_pb2.DatasetFeatureStatistics(name=name, num_examples=acc.num_examples)
    for feature_name in sorted(acc.features):
        feature_acc = acc.features[feature_name]
        feature = out.features.add()
        feature.path.step.append(feature_name)
        # Never-typed features (only empty Feature protos seen) are reported as STRING with no
        # values: present, but nothing to summarise.
        feature.type = kinds.get(feature_acc.kind, statistics_pb2.FeatureNameStatistics.STRING)
        if feature_acc.kind in ("int", "float"):
            _fill_common(feature.num_stats.common_stats, feature_acc, acc.num_examples)
            assert feature_acc.numeric is not None  # created with the numeric kind
            _fill_numeric(feature, feature_acc.numeric, num_quantiles, num_histogram_buckets)
        else:
            _fill_common(feature.string_stats.common_stats, feature_acc, acc.num_examples)
            if feature_acc.string is not None:
                _fill_string(feature, feature_acc, top_k, num_quantiles, num_histogram_buckets)
        if feature_acc.conflicting_values:
            _custom_num(feature, CONFLICTING_TYPE_VALUES, feature_acc.conflicting_values)
        if series is not None and feature_name == timestamp_feature:
            _fill_series(feature, series, num_quantiles)
    return out


def add_grid_counts(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    timestamp_feature: str,
    grids: Mapping[str, GridCounts],
) -> int:
    """Adds SERIES_GRID_STEPS / SERIES_GRID_MISSING_STEPS / SERIES_GRID_GAPS to the
    `timestamp_feature` of each split in `grids` (replacing earlier values); returns how many
    splits got them (a split without that feature, e.g. no examples, gets none)."""
    added = 0
    for dataset in stats.datasets:
        grid = grids.get(dataset.name)
        if grid is None:
            continue
        for feature in dataset.features:
            name = ".".join(feature.path.step) if feature.path.step else feature.name
            if name != timestamp_feature:
                continue
            kept = [c for c in feature.custom_stats if c.name not in _GRID_STATS]
            del feature.custom_stats[:]
            feature.custom_stats.extend(kept)
            _custom_num(feature, SERIES_GRID_STEPS, grid.steps)
            _custom_num(feature, SERIES_GRID_MISSING_STEPS, grid.missing)
            _custom_num(feature, SERIES_GRID_GAPS, grid.gaps)
            added += 1
    return added


_GRID_STATS = (SERIES_GRID_STEPS, SERIES_GRID_MISSING_STEPS, SERIES_GRID_GAPS)
