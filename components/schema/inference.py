"""Infers a tensorflow_metadata Schema from statistics, the way TFDV's infer_schema does for the
parts seqline uses, plus drift / skew thresholds and series frequency.

Per feature of the chosen split:
    type        INT / FLOAT / BYTES from the statistics type (STRING -> BYTES)
    presence    min_fraction 1.0 when no example lacks it, else only min_count 1
    shape {}    when every example has exactly one value (a scalar: FixedLenFeature([]));
                otherwise value_count { min max } as observed (a VarLenFeature)
    domains     label: a string domain of the observed labels plus the configured ones;
                text features (token statistics present): natural_language_domain;
                other strings with <= max_enum_values distinct values: a string domain
                (not the series id: new series are expected);
                numbers never negative: int_domain / float_domain { min: 0 }; floats without
                NaN / Inf: disallow_nan / disallow_inf;
                timestamps of series: time_domain and the series-frequency tag
    comparators drift (and, except for the label, skew) thresholds from the options
    environments TRAINING and SERVING; the label is not_in_environment SERVING
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seqline.components.statistics import statistics_proto as sp
from seqline.components.statistics.statistics_files import (
    common_stats,
    custom_num,
    custom_stat,
    feature_name,
    value_counts,
)
from seqline.schemas.annotations import set_series_frequency
from seqline.schemas.feature_spec import SERVING, TRAINING

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2


@dataclass(frozen=True)
class InferenceOptions:
    """See SchemaConfig for the meaning of each threshold."""

    label_feature: str = ""
    labels: Sequence[str] = ()
    series_id_feature: str | None = None  # never an enum: new series are expected
    infer_from_split: str = "train"
    max_enum_values: int = 50
    label_drift_threshold: float | None = 0.2
    categorical_drift_threshold: float | None = None
    text_drift_threshold: float | None = 0.2
    numeric_drift_threshold: float | None = None


def choose_split(
    stats: statistics_pb2.DatasetFeatureStatisticsList, split: str
) -> statistics_pb2.DatasetFeatureStatistics:
    """The split named `split`, else the first. Raises ValueError on empty statistics."""
    if not stats.datasets:
        raise ValueError("statistics hold no split")
    for dataset in stats.datasets:
        if dataset.name == split:
            return dataset
    return stats.datasets[0]


def _set_linf(comparator: schema_pb2.FeatureComparator, threshold: float | None) -> None:
    if threshold is not None:
        comparator.infinity_norm.threshold = threshold


def _set_jsd(comparator: schema_pb2.FeatureComparator, threshold: float | None) -> None:
    if threshold is not None:
        comparator.jensen_shannon_divergence.threshold = threshold


def infer_schema(
    stats: statistics_pb2.DatasetFeatureStatisticsList, options: InferenceOptions
) -> schema_pb2.Schema:
    """A Schema describing the `options.infer_from_split` split of `stats` (see module doc)."""
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2  # noqa: PLC0415

    dataset = choose_split(stats, options.infer_from_split)
    schema = schema_pb2.Schema()
    schema.default_environment.extend([TRAINING, SERVING])
    types = {
        statistics_pb2.FeatureNameStatistics.INT: schema_pb2.INT,
        statistics_pb2.FeatureNameStatistics.FLOAT: schema_pb2.FLOAT,
        statistics_pb2.FeatureNameStatistics.STRING: schema_pb2.BYTES,
        statistics_pb2.FeatureNameStatistics.BYTES: schema_pb2.BYTES,
    }
    for stats_feature in dataset.features:
        name = feature_name(stats_feature)
        common = common_stats(stats_feature)
        feature = schema.feature.add(
            name=name, type=types.get(stats_feature.type, schema_pb2.BYTES)
        )
        if common.num_missing == 0 and common.num_non_missing > 0:
            feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        if common.num_missing == 0 and common.min_num_values == 1 and common.max_num_values == 1:
            feature.shape.SetInParent()  # shape {}: a scalar
        else:
            feature.value_count.min = common.min_num_values
            feature.value_count.max = common.max_num_values
        is_series = custom_stat(stats_feature, sp.SERIES_COUNT) is not None
        if name == options.label_feature:
            values = list(dict.fromkeys([*options.labels, *sorted(value_counts(stats_feature))]))
            schema.string_domain.add(name=name, value=values)
            feature.domain = name
            feature.not_in_environment.append(SERVING)
        elif custom_stat(stats_feature, sp.TOKEN_LENGTH_HISTOGRAM) is not None:
            feature.natural_language_domain.SetInParent()
        elif name == options.series_id_feature:
            pass
        elif feature.type == schema_pb2.BYTES:
            counts = value_counts(stats_feature)
            unique = stats_feature.string_stats.unique
            if 0 < unique <= options.max_enum_values and len(counts) >= unique:
                schema.string_domain.add(name=name, value=sorted(counts))
                feature.domain = name
        elif is_series:
            feature.time_domain.SetInParent()
            frequency = custom_stat(stats_feature, sp.SERIES_FREQUENCY)
            if frequency is not None:
                set_series_frequency(feature, frequency.num)
        else:
            numbers = stats_feature.num_stats
            non_negative = numbers.common_stats.num_non_missing > 0 and numbers.min >= 0
            negative_inf = custom_num(stats_feature, sp.NUM_NEG_INF) > 0
            if feature.type == schema_pb2.INT and non_negative:
                feature.int_domain.min = 0
            elif feature.type == schema_pb2.FLOAT:
                if non_negative and not negative_inf:
                    feature.float_domain.min = 0.0
                feature.float_domain.disallow_nan = custom_num(stats_feature, sp.NUM_NAN) == 0
                feature.float_domain.disallow_inf = (
                    custom_num(stats_feature, sp.NUM_POS_INF) == 0 and not negative_inf
                )
        for kind, threshold, setter in _comparator_rules(feature, options):
            setter(getattr(feature, f"{kind}_comparator"), threshold)
    return schema


def _comparator_rules(
    feature: schema_pb2.Feature, options: InferenceOptions
) -> list[tuple[str, float | None, Callable[..., None]]]:
    """(comparator kind, threshold, setter) for a schema feature by its role, as inference
    gives them and apply_thresholds rewrites them: the label: L-infinity drift; text
    (natural_language_domain): Jensen-Shannon drift and skew on token lengths; other features
    with a string domain: L-infinity; numbers other than the series id and timestamps:
    Jensen-Shannon; nothing else."""
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    if feature.name == options.label_feature:
        return [("drift", options.label_drift_threshold, _set_linf)]
    if feature.HasField("natural_language_domain"):
        return [(k, options.text_drift_threshold, _set_jsd) for k in ("drift", "skew")]
    if feature.name == options.series_id_feature or feature.HasField("time_domain"):
        return []
    if feature.type == schema_pb2.BYTES:
        if feature.HasField("domain") or feature.HasField("string_domain"):
            return [(k, options.categorical_drift_threshold, _set_linf) for k in ("drift", "skew")]
        return []
    if feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
        return [(k, options.numeric_drift_threshold, _set_jsd) for k in ("drift", "skew")]
    return []


def _threshold(comparator: schema_pb2.FeatureComparator) -> float | None:
    for kind in ("infinity_norm", "jensen_shannon_divergence"):
        if comparator.HasField(kind):
            return getattr(comparator, kind).threshold
    return None


def apply_thresholds(schema: schema_pb2.Schema, options: InferenceOptions) -> list[str]:
    """Writes the options' drift / skew thresholds over `schema` (a schema inferred on an
    earlier run and reused): the features get the comparators inference would give them now,
    by the same roles (the label: L-infinity drift; text: Jensen-Shannon drift and skew on
    token lengths; other features with a string domain: L-infinity; numbers other than the
    series id and timestamps: Jensen-Shannon). A threshold of None removes the check. Edits
    `schema` in place; returns what changed, one "feature: drift 0.2 -> 0.5" per change
    ([] when the schema already holds the configured thresholds)."""
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    changes: list[str] = []
    for feature in schema.feature:
        pairs = _comparator_rules(feature, options)
        for kind, threshold, setter in pairs:
            field = f"{kind}_comparator"
            comparator = getattr(feature, field)
            before = _threshold(comparator) if feature.HasField(field) else None
            fresh = schema_pb2.FeatureComparator()
            setter(fresh, threshold)
            if threshold is None:
                if not feature.HasField(field):
                    continue
                feature.ClearField(field)
            elif feature.HasField(field) and fresh == comparator:
                continue
            else:
                comparator.CopyFrom(fresh)
            old = "none" if before is None else f"{before:g}"
            new = "none" if threshold is None else f"{threshold:g}"
            changes.append(f"{feature.name}: {kind} {old} -> {new}")
    return changes
