"""Distances used for drift and skew, on hand-built statistics protos and on statistics the
statistics code computes (no Beam) from synthetic token lengths."""

from __future__ import annotations

import random
import re

import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from seqline.components.statistics.feature_stats import DatasetAccumulator, SketchOptions
from seqline.components.statistics.statistics_proto import dataset_statistics
from seqline.components.validate.comparators import compare, jensen_shannon, l_infinity


def _numeric(name: str, buckets: list[tuple[float, float, float]] | None):
    feature = statistics_pb2.FeatureNameStatistics(name=name)
    feature.type = statistics_pb2.FeatureNameStatistics.FLOAT
    if buckets is not None:
        hist = feature.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
        for low, high, count in buckets:
            hist.buckets.add(low_value=low, high_value=high, sample_count=count)
    else:
        feature.string_stats.unique = 1
    return feature


def _dataset(feature):
    dataset = statistics_pb2.DatasetFeatureStatistics(num_examples=10)
    dataset.features.append(feature)
    return dataset


def _schema_with_jsd(name: str, threshold: float) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    feature = schema.feature.add(name=name)
    feature.skew_comparator.jensen_shannon_divergence.threshold = threshold
    return schema


def _deciles(low: float, high: float) -> list[tuple[float, float, float]]:
    """A QUANTILES histogram of 10 equal-count buckets, uniform on [low, high]."""
    step = (high - low) / 10
    return [(low + i * step, low + (i + 1) * step, 10.0) for i in range(10)]


def test_jensen_shannon_is_zero_for_equal_and_near_one_for_disjoint_histograms():
    p = _deciles(0.0, 1.0)
    assert jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-12)
    # The cell between the two holds one bucket of each: 1 - 1/10.
    assert jensen_shannon(p, _deciles(5.0, 6.0)) == pytest.approx(0.9)


def test_jensen_shannon_handles_integer_ties_as_point_masses():
    # Integer data: several equal quantiles (13 four times) are one point mass.
    edges = [6, 9, 11, 13, 13, 13, 13, 15, 17, 19, 21]
    p = [(float(a), float(b), 10.0) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    assert jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-12)
    shifted = [(a + 1.0, b + 1.0, c) for a, b, c in p]
    assert 0.0 < jensen_shannon(p, shifted) < 0.2


def test_l_infinity_names_the_value_that_moved_most():
    distance, where = l_infinity({"pos": 50, "neg": 50}, {"pos": 90, "neg": 10})
    assert distance == pytest.approx(0.4)
    assert where in ("pos", "neg")


def test_skew_above_threshold_is_an_anomaly_and_below_is_not():
    schema = _schema_with_jsd("x", 0.1)
    train = _dataset(_numeric("x", _deciles(0.0, 1.0)))
    same = _dataset(_numeric("x", [(a, b, 7.0) for a, b, _ in _deciles(0.0, 1.0)]))
    moved = _dataset(_numeric("x", _deciles(3.0, 4.0)))
    assert compare(schema, same, train, "skew", "serving vs train") == []
    (anomaly,) = compare(schema, moved, train, "skew", "serving vs train")
    assert anomaly.type == "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"
    assert anomaly.feature == "x"


def test_one_sided_histogram_is_an_error_not_a_silent_zero():
    schema = _schema_with_jsd("x", 0.1)
    with_hist = _dataset(_numeric("x", _deciles(0.0, 1.0)))
    without = _dataset(_numeric("x", None))
    with pytest.raises(ValueError, match="one side has no histogram"):
        compare(schema, without, with_hist, "skew", "serving vs train")


# The prober's scenarios, on statistics computed by the statistics code from token lengths:
# 1,500 reviews of 6..21 tokens (median 13), drift threshold 0.2 as schema inference sets it.


def _text_statistics(lengths: list[int]) -> statistics_pb2.DatasetFeatureStatistics:
    acc = DatasetAccumulator(SketchOptions(text_features=("text",)))
    texts = [[" ".join(["w"] * n).encode()] for n in lengths]
    column = pa.array(texts, pa.large_list(pa.large_binary()))
    acc.add_batch(pa.RecordBatch.from_arrays([column], ["text"]))
    return dataset_statistics("train", acc)


def _lengths(n: int, low: int, high: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(n)]


def _text_drift(current: list[int], previous: list[int]):
    schema = schema_pb2.Schema()
    schema.feature.add(name="text").drift_comparator.jensen_shannon_divergence.threshold = 0.2
    return compare(
        schema, _text_statistics(current), _text_statistics(previous), "drift", "train vs span"
    )


def test_text_drift_ignores_a_few_texts_one_token_past_the_previous_max():
    # Lengths around 13 tokens (sd 3, within 6..21); 4 of 1,500 typical texts become 22 tokens.
    rng = random.Random(0)
    previous = [min(21, max(6, round(rng.gauss(13, 3)))) for _ in range(1500)]
    current = list(previous)
    for i in [i for i, n in enumerate(previous) if n == 13][:4]:
        current[i] = 22
    assert _text_drift(current, previous) == []


def test_text_drift_ignores_one_very_long_review():
    previous = _lengths(1500, 6, 21, seed=0)
    assert _text_drift([*previous, 3000], previous) == []


def test_text_drift_ignores_a_fresh_sample_of_the_same_distribution():
    assert _text_drift(_lengths(1500, 6, 21, seed=1), _lengths(1500, 6, 21, seed=0)) == []


def test_text_drift_of_the_typical_length_is_caught_despite_outliers_in_both_spans():
    previous = [*_lengths(1500, 6, 21, seed=0), 3000]  # median 13
    current = [*_lengths(1500, 29, 44, seed=1), 3000]  # median 36
    (anomaly,) = _text_drift(current, previous)
    assert anomaly.type == "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"
    assert anomaly.measurement[2] > 0.8
    # The message shows the length quantiles, baseline -> current.
    assert re.search(
        r"token length p10 \d+, p50 1\d, p90 \d+ -> p10 \d+, p50 3\d", anomaly.observed
    )
