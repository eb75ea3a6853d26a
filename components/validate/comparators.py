"""Distances between two statistics of the same feature, and the drift / skew checks.

    L-infinity (categorical, incl. the label): max over values v of |p(v) - q(v)|, p and q the
        value shares from the rank histograms (exact for features with at most
        `frequent_buckets` distinct values). 50/50 -> 90/10 is 0.4.
    Jensen-Shannon divergence (numeric; text via its length in tokens), base 2, in [0, 1]:
        JS(P, Q) = H(M) - (H(P) + H(Q)) / 2 with M = (P + Q) / 2, on SHARED cells cut at the
        inner quantiles of both sides (QUANTILES histograms, num_quantiles equal-count
        buckets; min and max are not cuts, the outer cells are open-ended). Each side's mass
        per cell comes from its own CDF read off its quantiles (linear between distinct
        quantiles, a point mass where several are equal, as with integer token counts). So
        equal distributions give ~0, a few extreme values move no cut and barely the masses,
        and a shift of the bulk (median 13 -> 36 tokens) gives ~0.9; disjoint distributions
        give 1 - 1/num_quantiles. (Equal-width buckets from min to max, used before, let one
        outlier squeeze everything else into one bucket: false alarms and missed drift.)

Thresholds come from the schema: feature.drift_comparator (vs the previous span) and
feature.skew_comparator (vs serving data), fields infinity_norm / jensen_shannon_divergence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from seqline.components.statistics import statistics_proto as sp
from seqline.components.statistics.statistics_files import (
    custom_stat,
    features_by_name,
    histogram,
    value_counts,
)
from seqline.components.validate.anomaly import Anomaly

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

Buckets = list[tuple[float, float, float]]  # (low, high, count)


def l_infinity(p_counts: Mapping[str, float], q_counts: Mapping[str, float]) -> tuple[float, str]:
    """(distance, the value where it is reached) between two count maps (normalised here)."""
    p_total, q_total = sum(p_counts.values()), sum(q_counts.values())
    if p_total == 0 or q_total == 0:
        return 0.0, ""
    best, where = 0.0, ""
    for value in sorted(set(p_counts) | set(q_counts)):
        diff = abs(p_counts.get(value, 0.0) / p_total - q_counts.get(value, 0.0) / q_total)
        if diff > best:
            best, where = diff, value
    return best, where


def _cdf(buckets: Buckets, xs: np.ndarray) -> np.ndarray:
    """Mass at or below each x, spreading a bucket's count evenly over [low, high] (a
    zero-width bucket, e.g. equal quantiles of integer data, is a point mass at its value)."""
    total = np.zeros_like(xs, dtype=np.float64)
    for low, high, count in buckets:
        if high > low:
            total += count * np.clip((xs - low) / (high - low), 0.0, 1.0)
        else:
            total += count * (xs >= low)
    return total


def shared_edges(p: Buckets, q: Buckets) -> np.ndarray:
    """The cut points JSD compares on: the inner edges of both QUANTILES histograms (their
    quantiles strictly between min and max), deduplicated and sorted. Min and max are left out,
    so one extreme value moves no edge; the outer cells are open-ended."""
    inner = [e for hist in (p, q) for _, e, _ in hist[:-1]]
    return np.unique(np.array(inner, dtype=np.float64))


def shared_masses(p: Buckets, q: Buckets) -> tuple[np.ndarray, np.ndarray]:
    """(p, q) probability masses in the cells (-inf, e1], (e1, e2], ..., (ek, +inf) over the
    shared edges, each from its own CDF read off its quantiles."""
    edges = shared_edges(p, q)
    masses = []
    for hist in (p, q):
        total = sum(count for _, _, count in hist)
        cdf = np.concatenate([[0.0], _cdf(hist, edges), [total]])
        mass = np.clip(np.diff(np.maximum.accumulate(cdf)), 0.0, None)
        masses.append(mass / max(mass.sum(), 1e-300))
    return masses[0], masses[1]


def jensen_shannon(p: Buckets, q: Buckets) -> float:
    """JS divergence (base 2, in [0, 1]) of two distributions given as QUANTILES histograms
    ((low, high, count) buckets of equal counts, low/high the quantiles): 0 for equal ones,
    1 - 1/num_quantiles for disjoint ones (the cell between them holds one bucket of each)."""
    if not p or not q:
        return 0.0
    p_mass, q_mass = shared_masses(p, q)
    m = (p_mass + q_mass) / 2

    def entropy(x: np.ndarray) -> float:
        nz = x[x > 0]
        return float(-(nz * np.log2(nz)).sum())

    return min(1.0, max(0.0, entropy(m) - (entropy(p_mass) + entropy(q_mass)) / 2))


def quantile(buckets: Buckets, rank: float) -> float:
    """The `rank` quantile (0..1) read off a QUANTILES histogram, linear between its edges."""
    counts = np.array([count for _, _, count in buckets], dtype=np.float64)
    ranks = np.concatenate([[0.0], np.cumsum(counts)]) / max(counts.sum(), 1e-300)
    values = np.array([buckets[0][0]] + [high for _, high, _ in buckets], dtype=np.float64)
    return float(np.interp(rank, ranks, values))


def describe_quantiles(buckets: Buckets) -> str:
    """'p10 8, p50 13, p90 19' of a QUANTILES histogram."""
    return ", ".join(f"p{round(r * 100)} {quantile(buckets, r):.4g}" for r in (0.1, 0.5, 0.9))


def _buckets(hist: statistics_pb2.Histogram | None) -> Buckets:
    if hist is None:
        return []
    return [(b.low_value, b.high_value, b.sample_count) for b in hist.buckets]


def distribution(feature: statistics_pb2.FeatureNameStatistics) -> Buckets:
    """The QUANTILES histogram JSD uses: a text feature's length in tokens, or the numeric
    values."""
    tokens = custom_stat(feature, sp.TOKEN_LENGTH_QUANTILES)
    if tokens is not None:
        return _buckets(tokens.histogram)
    if feature.HasField("num_stats"):
        return _buckets(histogram(feature, "QUANTILES"))
    return []


def compare(
    schema: schema_pb2.Schema,
    current: statistics_pb2.DatasetFeatureStatistics,
    other: statistics_pb2.DatasetFeatureStatistics,
    kind: str,
    label: str,
) -> list[Anomaly]:
    """Drift (`kind` "drift": schema drift_comparator) or skew ("skew": skew_comparator) of
    `current` against `other`; `label` describes the pair for the report."""
    out: list[Anomaly] = []
    ours, theirs = features_by_name(current), features_by_name(other)
    for feature in schema.feature:
        comparator = feature.drift_comparator if kind == "drift" else feature.skew_comparator
        a, b = ours.get(feature.name), theirs.get(feature.name)
        if a is None or b is None:
            continue
        if comparator.HasField("infinity_norm"):
            threshold = comparator.infinity_norm.threshold
            distance, where = l_infinity(value_counts(a), value_counts(b))
            if distance > threshold:
                shares = _shares(value_counts(b), value_counts(a))
                out.append(
                    Anomaly(
                        feature.name,
                        label,
                        "COMPARATOR_L_INFTY_HIGH",
                        f"High L-infinity distance ({kind})",
                        f"L-infinity distance <= {threshold:g}",
                        f"{distance:.4g} (value {where!r}; {shares})",
                        measurement=(kind, "L_INFTY", distance, threshold),
                    )
                )
        if comparator.HasField("jensen_shannon_divergence"):
            threshold = comparator.jensen_shannon_divergence.threshold
            p, q = distribution(a), distribution(b)
            if bool(p) != bool(q):
                # One side has a histogram and the other none: the statistics were computed
                # inconsistently (e.g. text on one side only), so a 0 here would hide real skew.
                raise ValueError(
                    f"{feature.name}: cannot compare distributions ({kind}): one side has no "
                    "histogram; both statistics must be computed with the same feature roles"
                )
            divergence = jensen_shannon(p, q)
            if divergence > threshold:
                what = "token length" if custom_stat(a, sp.TOKEN_LENGTH_QUANTILES) else "values"
                out.append(
                    Anomaly(
                        feature.name,
                        label,
                        "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
                        f"High Jensen-Shannon divergence ({kind})",
                        f"Jensen-Shannon divergence of the {what} <= {threshold:g}",
                        f"{divergence:.4g} ({what} {describe_quantiles(q)} -> "
                        f"{describe_quantiles(p)})",
                        measurement=(kind, "JENSEN_SHANNON_DIVERGENCE", divergence, threshold),
                    )
                )
    return out


def _shares(before: Mapping[str, float], after: Mapping[str, float]) -> str:
    """'neg 50.0% -> 10.0%, pos 50.0% -> 90.0%' for the most common values."""
    b_total, a_total = sum(before.values()) or 1.0, sum(after.values()) or 1.0
    values = sorted(set(before) | set(after), key=lambda v: -(before.get(v, 0) + after.get(v, 0)))
    return ", ".join(
        f"{v} {before.get(v, 0) / b_total:.1%} -> {after.get(v, 0) / a_total:.1%}"
        for v in values[:6]
    )
