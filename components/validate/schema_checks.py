"""Statistics of one split vs the schema: every check that needs no second dataset.

Each check returns Anomaly values (anomaly.py) that name the feature, the expectation from the
schema and the observed figure. Names follow TFDV's AnomalyInfo.Type where the meaning is the
same; TEXT_EMPTY_FRACTION_HIGH, LABEL_SINGLE_CLASS and SERIES_* are seqline's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from seqline.components.statistics import statistics_proto as sp
from seqline.components.statistics.statistics_files import (
    common_stats,
    custom_num,
    custom_stat,
    features_by_name,
    value_counts,
)
from seqline.components.validate.anomaly import Anomaly
from seqline.schemas.annotations import series_frequency
from seqline.schemas.feature_spec import expected_features, in_environment, is_deprecated
from seqline.schemas.text import LABEL_KEY

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

    from seqline.pipeline.artifacts import GridSteps


@dataclass(frozen=True)
class CheckOptions:
    """Thresholds the schema format has no field for (see ValidateConfig)."""

    max_empty_text_fraction: float = 0.0
    max_irregular_fraction: float = 0.0
    max_gap_fraction: float = 0.05
    max_filled_fraction: float = 0.25


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _type_name(schema_type: int) -> str:
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    return schema_pb2.FeatureType.Name(schema_type)


def _stats_type_matches(schema_type: int, stats_type: int) -> bool:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2  # noqa: PLC0415

    stats_types = statistics_pb2.FeatureNameStatistics
    allowed = {
        schema_pb2.INT: {stats_types.INT},
        schema_pb2.FLOAT: {stats_types.FLOAT},
        schema_pb2.BYTES: {stats_types.STRING, stats_types.BYTES},
    }
    return stats_type in allowed.get(schema_type, set())


def _domain(
    schema: schema_pb2.Schema, feature: schema_pb2.Feature
) -> schema_pb2.StringDomain | None:
    """The feature's string domain: inline, or the schema-level one named by `domain`."""
    if feature.HasField("string_domain"):
        return feature.string_domain
    if feature.HasField("domain"):
        for domain in schema.string_domain:
            if domain.name == feature.domain:
                return domain
    return None


def check_presence(
    feature: schema_pb2.Feature,
    stats: statistics_pb2.FeatureNameStatistics,
    num_examples: int,
    split: str,
) -> list[Anomaly]:
    """Presence (min_fraction / min_count) and number of values (shape / value_count)."""
    common = common_stats(stats)
    out: list[Anomaly] = []
    present = common.num_non_missing
    fraction = present / num_examples if num_examples else 0.0
    if feature.presence.HasField("min_fraction") and fraction < feature.presence.min_fraction:
        out.append(
            Anomaly(
                feature.name,
                split,
                "FEATURE_TYPE_LOW_FRACTION_PRESENT",
                "Column dropped",
                f"present in at least {feature.presence.min_fraction:.2%} of examples",
                f"present in {fraction:.2%} ({present} of {num_examples} examples)",
            )
        )
    if feature.presence.HasField("min_count") and present < feature.presence.min_count:
        out.append(
            Anomaly(
                feature.name,
                split,
                "FEATURE_TYPE_LOW_NUMBER_PRESENT",
                "Too few examples have the feature",
                f"present in at least {feature.presence.min_count} examples",
                f"present in {present}",
            )
        )
    if present == 0:
        return out
    if feature.HasField("shape"):
        size = 1
        for dim in feature.shape.dim:
            size *= dim.size
        low: int | None = size
        high: int | None = size
    elif feature.HasField("value_count"):
        low = feature.value_count.min if feature.value_count.HasField("min") else None
        high = feature.value_count.max if feature.value_count.HasField("max") else None
    else:
        low = high = None
    if low is not None and common.min_num_values < low:
        out.append(
            Anomaly(
                feature.name,
                split,
                "FEATURE_TYPE_LOW_NUMBER_VALUES",
                "Missing values",
                f"at least {low} value(s) per example",
                f"an example with {common.min_num_values}",
            )
        )
    if high is not None and common.max_num_values > high:
        out.append(
            Anomaly(
                feature.name,
                split,
                "FEATURE_TYPE_HIGH_NUMBER_VALUES",
                "Superfluous values",
                f"at most {high} value(s) per example",
                f"an example with {common.max_num_values}",
            )
        )
    return out


def check_values(
    schema: schema_pb2.Schema,
    feature: schema_pb2.Feature,
    stats: statistics_pb2.FeatureNameStatistics,
    split: str,
    options: CheckOptions,
) -> list[Anomaly]:
    """Domains (enum values, numeric bounds, NaN / Inf), empty texts, series regularity."""
    out: list[Anomaly] = []
    name = feature.name
    domain = _domain(schema, feature)
    if domain is not None:
        allowed = set(domain.value)
        unexpected = {v: c for v, c in value_counts(stats).items() if v not in allowed}
        if unexpected:
            listed = ", ".join(
                f"{v!r} ({c:g})" for v, c in sorted(unexpected.items(), key=lambda x: -x[1])[:10]
            )
            out.append(
                Anomaly(
                    name,
                    split,
                    "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
                    "Unexpected string values",
                    f"values in domain '{domain.name or name}' {sorted(allowed)}",
                    f"{len(unexpected)} value(s) outside it: {listed}",
                )
            )
        present = [v for v, c in value_counts(stats).items() if v in allowed and c > 0]
        if name == LABEL_KEY and len(allowed) > 1 and len(present) == 1:
            # Every split, whatever its name: validate cannot see which split train fits on
            # (train.train_split may be "fit"), early stops on or evaluate scores. A classifier
            # trained on one class predicts it always; on a test split of that class it even
            # scores accuracy 1.0 and is blessed; an eval or test split of one class measures
            # nothing about telling the classes apart.
            out.append(
                Anomaly(
                    name,
                    split,
                    "LABEL_SINGLE_CLASS",
                    "One label only",
                    f"examples of at least two of the labels {sorted(allowed)}",
                    f"every example of split {split!r} is labelled {present[0]!r} (a "
                    "classifier fitted, early-stopped or scored on it learns or measures one "
                    "class only); rebalance the splits (ingest split_ratios / a larger "
                    "sample), or list LABEL_SINGLE_CLASS in validate.warning_types if a "
                    "one-class split is intended",
                )
            )
        if stats.string_stats.invalid_utf8_count:
            out.append(
                Anomaly(
                    name,
                    split,
                    "ENUM_TYPE_INVALID_UTF8",
                    "Invalid UTF-8",
                    "UTF-8 strings",
                    f"{stats.string_stats.invalid_utf8_count} invalid UTF-8 value(s)",
                )
            )
    if stats.HasField("num_stats") and stats.num_stats.common_stats.num_non_missing:
        out.extend(_check_numeric(feature, stats, split))
    if feature.HasField("natural_language_domain"):
        count = stats.string_stats.common_stats.tot_num_values
        empty = custom_num(stats, sp.NUM_EMPTY)
        fraction = empty / count if count else 0.0
        if fraction > options.max_empty_text_fraction:
            out.append(
                Anomaly(
                    name,
                    split,
                    "TEXT_EMPTY_FRACTION_HIGH",
                    "Empty texts",
                    f"at most {options.max_empty_text_fraction:.2%} texts without any token",
                    f"{fraction:.2%} ({int(empty)} of {count})",
                )
            )
    if custom_stat(stats, sp.SERIES_COUNT) is not None:
        out.extend(_check_series(feature, stats, split, options))
    return out


def _check_numeric(
    feature: schema_pb2.Feature, stats: statistics_pb2.FeatureNameStatistics, split: str
) -> list[Anomaly]:
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    out: list[Anomaly] = []
    numbers = stats.num_stats
    if feature.type == schema_pb2.INT and feature.HasField("int_domain"):
        bounds, prefix = feature.int_domain, "INT_TYPE"
        small, big = f"{prefix}_SMALL_INT", f"{prefix}_BIG_INT"
    elif feature.type == schema_pb2.FLOAT and feature.HasField("float_domain"):
        bounds, prefix = feature.float_domain, "FLOAT_TYPE"
        small, big = f"{prefix}_SMALL_FLOAT", f"{prefix}_BIG_FLOAT"
    else:
        return out
    if bounds.HasField("min") and numbers.min < bounds.min:
        out.append(
            Anomaly(
                feature.name,
                split,
                small,
                "Out-of-range values",
                f"values >= {_fmt(bounds.min)}",
                f"min {_fmt(numbers.min)}",
            )
        )
    if bounds.HasField("max") and numbers.max > bounds.max:
        out.append(
            Anomaly(
                feature.name,
                split,
                big,
                "Out-of-range values",
                f"values <= {_fmt(bounds.max)}",
                f"max {_fmt(numbers.max)}",
            )
        )
    if feature.type == schema_pb2.FLOAT:
        nan = custom_num(stats, sp.NUM_NAN)
        inf = custom_num(stats, sp.NUM_POS_INF) + custom_num(stats, sp.NUM_NEG_INF)
        if bounds.disallow_nan and nan:
            out.append(
                Anomaly(
                    feature.name,
                    split,
                    "FLOAT_TYPE_HAS_NAN",
                    "Invalid values",
                    "no NaN",
                    f"{int(nan)} NaN value(s)",
                )  # fmt: skip
            )
        if bounds.disallow_inf and inf:
            out.append(
                Anomaly(
                    feature.name,
                    split,
                    "FLOAT_TYPE_HAS_INF",
                    "Invalid values",
                    "no +-Inf",
                    f"{int(inf)} infinite value(s)",
                )  # fmt: skip
            )
    return out


GAP_FIX = (
    "raise validate.max_gap_fraction if the source is known to have holes (ingest_series "
    "fills the short ones, see its max_gap_steps)"
)


def _missing_steps(
    stats: statistics_pb2.FeatureNameStatistics, split: str, options: CheckOptions
) -> tuple[str, str] | None:
    """(expectation, problem or "") of max_gap_fraction for one split's timestamp feature;
    None when there is nothing to count (a single timestamp per series, no grid counts).

    The figure is missing data steps / grid steps of the split, from ingest_series' own
    counts (SERIES_GRID_*, copied into the statistics by the statistics node): a gap of g
    steps weighs g. Statistics without them (written before they were copied, or of examples
    ingest_series did not make) fall back to the gaps between the examples' timestamps
    (SERIES_MISSING_STEPS over spacings + missing): for windows those are window ends, where a
    gap of g data steps removes up to g + lookback + horizon - 1 of them, and the problem
    says that this is the figure it used.
    """
    limit = options.max_gap_fraction
    grid = custom_stat(stats, sp.SERIES_GRID_STEPS)
    if grid is not None:
        steps = int(grid.num)
        missing = int(custom_num(stats, sp.SERIES_GRID_MISSING_STEPS))
        gaps = int(custom_num(stats, sp.SERIES_GRID_GAPS))
        share = missing / steps if steps else 0.0
        expected = f"<= {limit:.2%} of the split's grid steps missing (data steps)"
        if share <= limit:
            return expected, ""
        return expected, (
            f"split {split!r}: {share:.2%} of its grid's data steps missing ({missing} of "
            f"{steps} steps, in {gaps} gap(s) ingest_series did not fill: longer than its "
            f"max_gap_steps, or across a split boundary); {GAP_FIX}"
        )
    spacings = custom_num(stats, sp.SERIES_SPACINGS)
    if not spacings:
        return None
    # A gap's weight is the steps it leaves out, not the one spacing it takes: one hole of a
    # month in an hourly series is 720 missing steps, not 1 odd spacing in 10,000.
    missing = int(custom_num(stats, sp.SERIES_MISSING_STEPS))
    share = missing / (spacings + missing)
    expected = f"<= {limit:.2%} of the grid's steps missing"
    if share <= limit:
        return expected, ""
    gaps = int(custom_num(stats, sp.SERIES_GAPS))
    return expected, (
        f"split {split!r}: {share:.2%} of the grid's steps missing ({missing} missing steps "
        f"in {gaps} gap(s)), counted on the examples' timestamps because these statistics "
        "carry no data-step counts from ingest_series (written before it counted missing "
        "steps per split, or examples it did not make; re-run ingest_series and statistics "
        "to count data steps): for windows those are window ends, and a gap of g data "
        f"steps removes up to g + lookback + horizon - 1 of them; {GAP_FIX}"
    )


def counts_window_ends(
    dataset: statistics_pb2.DatasetFeatureStatistics, timestamp_feature: str | None
) -> bool:
    """Whether max_gap_fraction falls back to window ends for this split's statistics: its
    timestamp feature has spacings to judge but no data-step counts from ingest_series
    (statistics or examples written before they were counted, or not made by it)."""
    if not timestamp_feature:
        return False
    stats = features_by_name(dataset).get(timestamp_feature)
    return (
        stats is not None
        and custom_stat(stats, sp.SERIES_GRID_STEPS) is None
        and bool(custom_num(stats, sp.SERIES_SPACINGS))
    )


def _check_series(
    feature: schema_pb2.Feature,
    stats: statistics_pb2.FeatureNameStatistics,
    split: str,
    options: CheckOptions,
) -> list[Anomaly]:
    out: list[Anomaly] = []
    duplicates = custom_num(stats, sp.SERIES_DUPLICATE_TIMESTAMPS)
    out_of_order = custom_num(stats, sp.SERIES_OUT_OF_ORDER_EXAMPLES)
    if duplicates or out_of_order:
        out.append(
            Anomaly(
                feature.name,
                split,
                "SERIES_NON_MONOTONIC_TIMESTAMPS",
                "Non-monotonic timestamps",
                "strictly increasing timestamps within every series and example",
                f"{int(duplicates)} repeated timestamp(s), {int(out_of_order)} example(s) "
                "with decreasing timestamps",
            )
        )
    spacings = custom_num(stats, sp.SERIES_SPACINGS)
    problems: list[str] = []
    expectations: list[str] = []
    frequency = series_frequency(feature)
    if frequency is not None:
        expectations.append(f"every series spaced by {_fmt(frequency)}")
        steps = custom_stat(stats, sp.SERIES_STEPS)
        counts = (
            {} if steps is None else {b.label: b.sample_count for b in steps.rank_histogram.buckets}
        )
        off = {
            label: c
            for label, c in counts.items()
            if abs(float(label) - frequency) > 1e-9 * frequency
        }
        if off:
            listed = ", ".join(f"{float(k):g} ({v:g} series)" for k, v in sorted(off.items()))
            problems.append(f"series spaced by {listed}")
    if spacings:
        irregular = custom_num(stats, sp.SERIES_IRREGULAR_SPACINGS) / spacings
        expectations.append(f"<= {options.max_irregular_fraction:.2%} off-grid spacings")
        if irregular > options.max_irregular_fraction:
            problems.append(f"{irregular:.2%} of spacings off the series' step")
    gap = _missing_steps(stats, split, options)
    if gap is not None:
        expectations.append(gap[0])
        if gap[1]:
            problems.append(gap[1])
    if problems:
        out.append(
            Anomaly(
                feature.name,
                split,
                "SERIES_IRREGULAR_TIMESTAMPS",
                "Irregular timestamps",
                "; ".join(expectations),
                "; ".join(problems),
            )
        )
    return out


FILLED_SPLITS = "all splits"  # the data an anomaly of GridSteps totals is about
FILLED_FIX = (
    "Check ingest_series.frequency: a frequency finer than the data's step fills the steps "
    "between rows (hourly rows declared 15min: 75% filled); set it to the step the rows are "
    "recorded at. A split mostly filled while the others are not is a sparse stretch of the "
    "source: give that split a time range with data (split_fractions / split_cuts) or fix "
    "the source. If the source is known to be this sparse, raise "
    "validate.max_filled_fraction (or lower ingest_series.max_gap_steps)"
)


def check_filled_steps(grid: GridSteps | None, options: CheckOptions) -> list[Anomaly]:
    """SERIES_FILLED_FRACTION_HIGH for each split of a series dataset where more than
    `max_filled_fraction` of the grid steps were filled by ingest_series rather than read
    (the split's filled / (filled + real), GridSteps.splits); the anomaly names the split.

    Per split only: the total is the splits' fractions weighted by their grid sizes, so it
    cannot exceed the limit unless a split does, while a small test split mostly filled
    hides under a large clean train split in the total (evaluate would then score and bless
    on made-up targets). GridSteps without per-split figures (Examples written before
    ingest_series counted them) fall back to the totals, and the anomaly says so ("all
    splits", "totals only"). Nothing for data without a grid (text) or without the counts.
    """
    if grid is None:
        return []
    limit = options.max_filled_fraction
    expected = (
        f"<= {limit:.2%} of the grid's steps filled by ingest_series' gap_policy "
        "(interpolate / ffill)"
    )
    if not grid.splits:
        if grid.filled_fraction <= limit:
            return []
        total = grid.filled + grid.real
        return [
            Anomaly(
                "",
                FILLED_SPLITS,
                "SERIES_FILLED_FRACTION_HIGH",
                "Mostly filled grid",
                expected,
                f"{grid.filled_fraction:.2%} filled ({grid.filled} filled and {grid.real} "
                f"real steps of {total}), counted over all splits only (the examples carry no "
                "per-split counts; re-run ingest_series to check each split): the windows are "
                f"mostly made-up values. {FILLED_FIX}",
            )
        ]
    out = []
    for split in grid.splits:
        if split.filled_fraction <= limit:
            continue
        total = split.filled + split.real
        out.append(
            Anomaly(
                "",
                split.split,
                "SERIES_FILLED_FRACTION_HIGH",
                "Mostly filled grid",
                expected,
                f"split {split.split!r}: {split.filled_fraction:.2%} filled ({split.filled} "
                f"filled and {split.real} real steps of {total}; all splits "
                f"{grid.filled_fraction:.2%}, {grid.filled} filled and {grid.real} real): "
                f"the {split.split} windows are mostly made-up values, and a model evaluated "
                f"on them is scored on made-up targets. {FILLED_FIX}",
            )
        )
    return out


def check_split(
    dataset: statistics_pb2.DatasetFeatureStatistics,
    schema: schema_pb2.Schema,
    environment: str,
    split: str,
    options: CheckOptions,
) -> list[Anomaly]:
    """Every schema check for one split's statistics in `environment`."""
    out: list[Anomaly] = []
    if dataset.num_examples == 0:
        return [
            Anomaly("", split, "NO_DATA_IN_SPAN", "No data", "at least one example", "0 examples")
        ]
    observed = features_by_name(dataset)
    known = {f.name: f for f in schema.feature}
    for name, stats in observed.items():
        feature = known.get(name)
        if feature is None:
            out.append(
                Anomaly(
                    name,
                    split,
                    "SCHEMA_NEW_COLUMN",
                    "New column",
                    "only the schema's features " + str(sorted(known)),
                    f"column '{name}' in {common_stats(stats).num_non_missing} examples",
                )
            )
        elif not is_deprecated(feature) and not in_environment(feature, environment):
            out.append(
                Anomaly(
                    name,
                    split,
                    "SCHEMA_NEW_COLUMN",
                    "Column not expected in this environment",
                    f"no '{name}' in {environment} data",
                    f"column '{name}' in {common_stats(stats).num_non_missing} examples",
                )
            )
    for feature in expected_features(schema, environment):
        stats = observed.get(feature.name)
        required = feature.presence.min_count > 0 or feature.presence.min_fraction > 0
        if stats is None or common_stats(stats).num_non_missing == 0:
            if required:
                out.append(
                    Anomaly(
                        feature.name,
                        split,
                        "SCHEMA_MISSING_COLUMN",
                        "Column dropped",
                        f"column '{feature.name}' ({_type_name(feature.type)})",
                        "no example has it",
                    )
                )
            continue
        conflicting = custom_num(stats, sp.CONFLICTING_TYPE_VALUES)
        if not _stats_type_matches(feature.type, stats.type) or conflicting:
            from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

            seen = statistics_pb2.FeatureNameStatistics.Type.Name(stats.type)
            extra = f" (and {int(conflicting)} values of another type)" if conflicting else ""
            out.append(
                Anomaly(
                    feature.name,
                    split,
                    "UNEXPECTED_DATA_TYPE",
                    "Unexpected data type",
                    f"type {_type_name(feature.type)}",
                    f"type {seen}{extra}",
                )
            )
            continue
        out.extend(check_presence(feature, stats, dataset.num_examples, split))
        out.extend(check_values(schema, feature, stats, split, options))
    return out
