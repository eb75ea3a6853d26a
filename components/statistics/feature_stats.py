"""Mergeable per-feature statistics over Arrow RecordBatches of decoded tf.Examples.

The core of the statistics component, free of Beam so tests call it directly: a
`DatasetAccumulator` takes whole RecordBatches (as tfx_bsl's ExamplesToRecordBatchDecoder makes
them: one `large_list<...>` column per feature, null where an example lacks the feature),
updates vectorised numpy/Arrow summaries, and merges with other accumulators, so a Beam
CombineFn (see transforms.py) can run it in parallel with bounded memory.

What is exact and what is approximate (error bounds; N = number of values of the feature):
    exact: example / presence / value counts, min, max, zeros, NaN / +-Inf counts, empty texts,
        invalid UTF-8 values, mean and standard deviation (Chan et al. parallel update in
        float64, agreeing with numpy to ~1e-12 relative).
    quantiles (values, text lengths): tfx_bsl QuantilesSketch with epsilon e (config
        quantiles_epsilon): a reported q-quantile v satisfies rank(v) within q*N +- e*N.
    distinct count: tfx_bsl KmvSketch with k buckets: exact when there are fewer than k distinct
        values, else relative standard error ~1/sqrt(k).
    top values / value counts: tfx_bsl MisraGriesSketch with m buckets: exact when there are at
        most m distinct values, else a reported count c means a true count in [c - N/(m+1), c].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tfx_bsl import sketches

from seqline.schemas.text import HTML_TAG_PATTERN, PUNCTUATION_PATTERN

Kind = Literal["int", "float", "bytes", "unknown"]

# Sized for any realistic count of values; the sketch's memory grows only with log(N).
_MAX_SKETCH_ELEMENTS = 1 << 40


@dataclass(frozen=True)
class SketchOptions:
    """Sketch sizes (see StatisticsConfig for their meaning and error bounds)."""

    quantiles_epsilon: float = 0.01
    distinct_buckets: int = 1024
    frequent_buckets: int = 1000
    text_features: tuple[str, ...] = ()


def _quantile_sketch(options: SketchOptions) -> sketches.QuantilesSketch:
    return sketches.QuantilesSketch(options.quantiles_epsilon, _MAX_SKETCH_ELEMENTS, 1)


@dataclass
class Moments:
    """Count, mean and sum of squared deviations (M2) of finite values, mergeable exactly
    (Chan, Golub & LeVeque's pairwise update), so std = sqrt(M2 / count) matches numpy's
    population std regardless of how the data was split."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        """Adds a float64 array of finite values."""
        if values.size == 0:
            return
        batch_mean = float(values.mean())
        batch_m2 = float(np.square(values - batch_mean).sum())
        self.merge(Moments(int(values.size), batch_mean, batch_m2))

    def merge(self, other: Moments) -> None:
        if other.count == 0:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else 0.0


@dataclass
class NumericAccumulator:
    """Numeric summary of INT / FLOAT values. NaN and +-Inf are counted apart and left out of
    min / max / mean / std / quantiles (like numpy's nan-functions on finite values)."""

    options: SketchOptions
    moments: Moments = field(default_factory=Moments)
    min: float = math.inf
    max: float = -math.inf
    zeros: int = 0
    nan: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    quantiles: sketches.QuantilesSketch | None = None

    def add(self, values: np.ndarray) -> None:
        """Adds a flat array of int64 / float values."""
        values = values.astype(np.float64, copy=False)
        nan = np.isnan(values)
        inf = np.isinf(values)
        self.nan += int(nan.sum())
        self.pos_inf += int((inf & (values > 0)).sum())
        self.neg_inf += int((inf & (values < 0)).sum())
        finite = values[~(nan | inf)]
        if finite.size == 0:
            return
        self.moments.add(finite)
        self.min = min(self.min, float(finite.min()))
        self.max = max(self.max, float(finite.max()))
        self.zeros += int((finite == 0).sum())
        if self.quantiles is None:
            self.quantiles = _quantile_sketch(self.options)
        self.quantiles.AddValues(pa.array(finite))

    def merge(self, other: NumericAccumulator) -> None:
        self.moments.merge(other.moments)
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.zeros += other.zeros
        self.nan += other.nan
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        self.quantiles = _merge_sketch(self.quantiles, other.quantiles)


def _merge_sketch(mine, theirs):  # noqa: ANN001, ANN202 — any tfx_bsl sketch or None
    if theirs is None:
        return mine
    if mine is None:
        return theirs
    mine.Merge(theirs)
    return mine


def decode_utf8(values: pa.Array) -> tuple[pa.Array, int]:
    """(large_string array, number of invalid values): invalid UTF-8 values become null."""
    try:
        return values.cast(pa.large_string()), 0
    except (pa.ArrowInvalid, UnicodeDecodeError):
        decoded: list[str | None] = []
        invalid = 0
        for raw in values.to_pylist():  # rare path: only batches holding invalid bytes
            try:
                decoded.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                decoded.append(None)
                invalid += 1
        return pa.array(decoded, pa.large_string()), invalid


def empty_after_standardization(strings: pa.Array) -> int:
    """How many strings hold no token once standardized as transform does (HTML tags replaced
    by a space, punctuation deleted; schemas/text.py): "#@!; !!!" or "<br />" is empty to the
    model though it has whitespace tokens. Null counts as empty."""
    text = pc.replace_substring_regex(strings, HTML_TAG_PATTERN, " ")
    text = pc.replace_substring_regex(text, PUNCTUATION_PATTERN, "")
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).fill_null(True)
    return int(pc.sum(empty.cast(pa.int64())).as_py() or 0)


def token_counts(strings: pa.Array) -> np.ndarray:
    """Whitespace-separated tokens per string (same as len(s.split())), as int64; null -> 0."""
    trimmed = pc.utf8_trim_whitespace(strings)
    counts = pc.list_value_length(pc.utf8_split_whitespace(trimmed))
    empty = pc.equal(pc.utf8_length(trimmed), 0)
    counts = pc.if_else(empty, 0, counts)
    return np.asarray(counts.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class StringAccumulator:
    """Summary of BYTES values: top values, distinct count, lengths in characters and (for
    text features) in whitespace tokens, empty texts (no token), invalid UTF-8."""

    options: SketchOptions
    is_text: bool = False
    frequent: sketches.MisraGriesSketch | None = None
    distinct: sketches.KmvSketch | None = None
    char_lengths: sketches.QuantilesSketch | None = None
    token_lengths: sketches.QuantilesSketch | None = None
    count: int = 0
    total_chars: int = 0
    total_tokens: int = 0
    empty: int = 0
    invalid_utf8: int = 0

    def add(self, values: pa.Array) -> None:
        """Adds a flat large_binary array of values."""
        if len(values) == 0:
            return
        if self.frequent is None:
            self.frequent = sketches.MisraGriesSketch(self.options.frequent_buckets)
            self.distinct = sketches.KmvSketch(self.options.distinct_buckets)
            self.char_lengths = _quantile_sketch(self.options)
        assert self.distinct is not None and self.char_lengths is not None  # created together
        self.frequent.AddValues(values)
        self.distinct.AddValues(values)
        strings, invalid = decode_utf8(values)
        self.invalid_utf8 += invalid
        valid = strings.drop_null() if invalid else strings
        self.count += len(valid)
        lengths = pc.utf8_length(valid)
        self.total_chars += int(pc.sum(lengths).as_py() or 0)
        self.char_lengths.AddValues(lengths.cast(pa.float64()))
        if self.is_text:
            tokens = token_counts(valid)
            self.total_tokens += int(tokens.sum())
            self.empty += empty_after_standardization(valid)
            if self.token_lengths is None:
                self.token_lengths = _quantile_sketch(self.options)
            self.token_lengths.AddValues(pa.array(tokens.astype(np.float64)))

    def merge(self, other: StringAccumulator) -> None:
        self.frequent = _merge_sketch(self.frequent, other.frequent)
        self.distinct = _merge_sketch(self.distinct, other.distinct)
        self.char_lengths = _merge_sketch(self.char_lengths, other.char_lengths)
        self.token_lengths = _merge_sketch(self.token_lengths, other.token_lengths)
        self.count += other.count
        self.total_chars += other.total_chars
        self.total_tokens += other.total_tokens
        self.empty += other.empty
        self.invalid_utf8 += other.invalid_utf8


def _kind_of(value_type: pa.DataType) -> Kind:
    if pa.types.is_integer(value_type):
        return "int"
    if pa.types.is_floating(value_type):
        return "float"
    if pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type):
        return "bytes"
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return "bytes"
    return "unknown"  # a feature whose kind (int64_list...) was never set in this batch


@dataclass
class FeatureAccumulator:
    """Everything known about one feature. `kind` is the first concrete type seen; values of
    another type later are not mixed in but counted in `conflicting_values`."""

    name: str
    options: SketchOptions
    kind: Kind = "unknown"
    present: int = 0  # examples that have the feature (possibly with zero values)
    num_values: int = 0
    min_num_values: int = -1  # -1 = not seen yet
    max_num_values: int = 0
    conflicting_values: int = 0
    numeric: NumericAccumulator | None = None
    string: StringAccumulator | None = None

    def add_column(self, column: pa.Array) -> None:
        """Adds one RecordBatch column: a (large_)list array, one row per example."""
        present = len(column) - column.null_count
        if present == 0:
            return
        self.present += present
        lengths = pc.list_value_length(column).drop_null().to_numpy(zero_copy_only=False)
        self.num_values += int(lengths.sum())
        low, high = int(lengths.min()), int(lengths.max())
        self.min_num_values = low if self.min_num_values < 0 else min(self.min_num_values, low)
        self.max_num_values = max(self.max_num_values, high)
        kind = _kind_of(column.type.value_type)
        if kind == "unknown":
            return
        flat = column.flatten()
        if self.kind == "unknown":
            self._set_kind(kind)
        if kind != self.kind:
            self.conflicting_values += len(flat)
            return
        if kind == "bytes":
            assert self.string is not None  # _set_kind created it
            self.string.add(flat)
        else:
            assert self.numeric is not None  # _set_kind created it
            self.numeric.add(flat.to_numpy(zero_copy_only=False))

    def _set_kind(self, kind: Kind) -> None:
        self.kind = kind
        if kind == "bytes":
            self.string = StringAccumulator(
                self.options, is_text=self.name in self.options.text_features
            )
        else:
            self.numeric = NumericAccumulator(self.options)

    def merge(self, other: FeatureAccumulator) -> None:
        self.present += other.present
        self.num_values += other.num_values
        if other.min_num_values >= 0:
            self.min_num_values = (
                other.min_num_values
                if self.min_num_values < 0
                else min(self.min_num_values, other.min_num_values)
            )
        self.max_num_values = max(self.max_num_values, other.max_num_values)
        self.conflicting_values += other.conflicting_values
        if other.kind == "unknown":
            return
        if self.kind == "unknown":
            self._set_kind(other.kind)
        if other.kind != self.kind:
            self.conflicting_values += other.num_values
            return
        if self.kind == "bytes":
            assert self.string is not None and other.string is not None  # same kind, both set
            self.string.merge(other.string)
        else:
            assert self.numeric is not None and other.numeric is not None
            self.numeric.merge(other.numeric)


@dataclass
class DatasetAccumulator:
    """Statistics of one split: the example count and one FeatureAccumulator per feature."""

    options: SketchOptions
    num_examples: int = 0
    features: dict[str, FeatureAccumulator] = field(default_factory=dict)

    def add_batch(self, batch: pa.RecordBatch) -> None:
        self.num_examples += batch.num_rows
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            feature = self.features.get(name)
            if feature is None:
                feature = self.features[name] = FeatureAccumulator(name, self.options)
            feature.add_column(column)

    def merge(self, other: DatasetAccumulator) -> None:
        self.num_examples += other.num_examples
        for name, theirs in other.features.items():
            mine = self.features.get(name)
            if mine is None:
                self.features[name] = theirs
            else:
                mine.merge(theirs)
