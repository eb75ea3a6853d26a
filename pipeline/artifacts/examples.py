"""Record artifacts: Examples, SeriesWindows, TransformedExamples, RejectedRecords.

The split layout of every record artifact is written down here, once:

    {uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz   gzip TFRecords of tf.Example

Producers write through `split_prefix(uri, split)` + SHARD_SUFFIX (Beam's WriteToTFRecord)
and consumers read through `artifact.split_files(split)`; nobody else spells the pattern.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from seqline.pipeline.artifacts.base import Artifact, int_map, str_list
from seqline.pipeline.errors import DataError
from seqline.storage import filesystem

SHARD_PREFIX = "data"
SHARD_SUFFIX = ".tfrecord.gz"
SHARD_PATTERN = f"{SHARD_PREFIX}-*-of-*{SHARD_SUFFIX}"


def split_prefix(uri: str, split: str) -> str:
    """The file name prefix a writer gives Beam's WriteToTFRecord for `split` of the record
    artifact at `uri` (with file_name_suffix=SHARD_SUFFIX and Beam's default
    -SSSSS-of-NNNNN shard template)."""
    return filesystem.join(uri, split, SHARD_PREFIX)


def split_pattern(uri: str, split: str) -> str:
    """The glob of `split`'s shards in the record artifact at `uri`."""
    return filesystem.join(uri, split, SHARD_PATTERN)


def glob_files(pattern: str) -> list[str]:
    """Sorted files matching `pattern` (tf.io.gfile for gs:// / s3://, glob locally)."""
    if filesystem.is_remote(pattern):
        import tensorflow as tf  # noqa: PLC0415 — only remote roots need it

        return sorted(tf.io.gfile.glob(pattern))
    return sorted(glob.glob(pattern))


@dataclass
class SplitRecords(Artifact):
    """Records split into named folders (see the module docstring for the file structure).

    Properties: splits (names, in order), counts (split -> records written).
    """

    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("counts",)

    @property
    def splits(self) -> list[str]:
        return str_list(self.properties.get("splits"))

    @property
    def counts(self) -> dict[str, int]:
        return int_map(self.properties.get("counts"))

    def contract(self) -> str:
        """Splits listed, and shards under each (see the module docstring)."""
        article = "an" if self.type_name[:1] in "AEIOU" else "a"
        return (
            f"{article} {self.type_name} output needs properties['splits'] (the split names) "
            f"and, for each split, gzip TFRecord shards {{split}}/{SHARD_PATTERN} (write them "
            "with beam.io.WriteToTFRecord(out.split_prefix(split), "
            "file_name_suffix=SHARD_SUFFIX), or copy them from an input)"
        )

    def missing(self) -> list[str]:
        """ "lists no splits" when properties['splits'] is unset or empty, else the splits
        without a shard (what split_files would refuse); [] when complete."""
        if not self.splits:
            return ["lists no splits (properties['splits'] is unset or empty)"]
        empty = [split for split in self.splits if not glob_files(self.split_pattern(split))]
        if empty:
            return [f"has no files matching {{split}}/{SHARD_PATTERN} for splits {empty}"]
        return []

    def split_dir(self, split: str) -> str:
        return self.path(split)

    def split_prefix(self, split: str) -> str:
        """The file name prefix a writer gives Beam's WriteToTFRecord for `split` (with
        shard_name_template -SSSSS-of-NNNNN and file_name_suffix SHARD_SUFFIX)."""
        return split_prefix(self.uri, split)

    def split_pattern(self, split: str) -> str:
        """The glob of `split`'s shards."""
        return split_pattern(self.uri, split)

    def check_split(
        self, split: str, role: str = "split", setting: str = "the config's split name"
    ) -> None:
        """DataError when `split` is not one of the artifact's splits; the message starts with
        `role` (who asked, e.g. "node 'evaluate'"), names the node that wrote the artifact and
        says to set `setting` (e.g. "components.evaluate.eval_split")."""
        if split not in self.splits:
            node = self.producer.get("node_id")
            source = f"written by node '{node}' " if node else ""
            other = f", or have node '{node}' write a {split!r} split" if node else ""
            raise DataError(
                f"{role}: expected one of the {self.type_name} splits {self.splits} {source}at "
                f"{self.uri}, got {split!r}; set {setting} to one of them{other}"
            )

    def split_files(self, split: str) -> list[str]:
        """The sorted shards of `split`.

        Raises:
            DataError: the split is not listed, or it is listed but has no files (an
                incomplete artifact).
        """
        self.check_split(split)
        files = glob_files(self.split_pattern(split))
        if not files:
            raise DataError(
                f"{self.type_name} at {self.uri}: expected files matching "
                f"{self.split_pattern(split)}, found none; the artifact is incomplete, re-run "
                f"{self.producer.get('component') or 'its producer'}"
            )
        return files

    def all_split_files(self) -> dict[str, list[str]]:
        """split -> its shards, for every split (an empty split may have none)."""
        missing = [s for s in self.splits if not filesystem.exists(self.split_dir(s))]
        if missing:
            raise DataError(
                f"{self.type_name} at {self.uri}: splits {missing} are listed but their folders "
                f"do not exist; re-run {self.producer.get('component') or 'its producer'}"
            )
        return {s: glob_files(self.split_pattern(s)) for s in self.splits}


@dataclass
class Examples(SplitRecords):
    """Raw tf.Examples from an ingest component.

    File structure:
        {uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz   gzip TFRecords of tf.Example
            (text: bytes "text" and "label", schemas/text.py)

    Properties: splits, counts (split -> examples), labels (the label names, in label-id
    order), label_counts (split -> label -> n, optional), input (records read), rejected,
    skipped (non-records by reason), span and spans (the latest span read and every span read,
    oldest first; only for a span-pattern source, docs/scheduled-runs.md), split_definition
    (what decided each record's split, see `split_definition`).
    """

    TYPE_NAME: ClassVar[str] = "Examples"
    # spans first: for a scheduled run, which data it is matters more than how much.
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("spans", "counts", "rejected")

    def describe(self) -> list[str]:
        """`seqline show`: the spans read, when the source had a span pattern."""
        spans = self.properties.get("spans")
        return [f"spans: {', '.join(map(str, spans))}"] if spans else []

    @property
    def labels(self) -> list[str]:
        """The label names ingest accepted, in label-id order ([] for unlabelled data)."""
        return str_list(self.properties.get("labels"))

    def label_counts(self, split: str) -> dict[str, int] | None:
        """label -> examples of `split`, when the producer counted them; else None."""
        known = (self.properties.get("label_counts") or {}).get(split)
        return int_map(known) if known is not None else None

    @property
    def split_definition(self) -> dict[str, Any] | None:
        """What decided each record's split (the ingest config's split_by, ratios or
        fractions, hash key...; docs/ingest.md), a JSON object: two Examples with equal
        definitions put every record in the same split. None when the producer did not record
        one (Examples written before it was recorded, or an ingest that does not)."""
        return split_definition_of(self.properties.get(SPLIT_DEFINITION))

    @property
    def grid_steps(self) -> GridSteps | None:
        """How many of the grid steps behind the records are real rows and how many were
        filled; None for records without a time grid (text)."""
        return None


SPLIT_DEFINITION = "split_definition"


def _filled_fraction(filled: int, real: int) -> float:
    total = filled + real
    return filled / total if total else 0.0


@dataclass(frozen=True)
class SplitGridSteps:
    """The grid steps of one split of a series dataset: `real` steps are its rows (ingest's
    points of that split), `filled` ones were made up by gap filling inside the split."""

    split: str
    filled: int
    real: int

    @property
    def filled_fraction(self) -> float:
        """filled / (filled + real) within the split (0.0 for an empty grid)."""
        return _filled_fraction(self.filled, self.real)


@dataclass(frozen=True)
class GridSteps:
    """The steps of a series dataset's regular grid: `real` steps are rows of the source
    (ingest_series' accepted points), `filled` steps were made up by its gap_policy
    (interpolate / ffill) inside segments. `filled` and `real` are totals over all splits;
    `splits` has the same figures per split (in the Examples' split order), () when the
    producer did not count them per split (Examples written before it did)."""

    filled: int
    real: int
    splits: tuple[SplitGridSteps, ...] = ()

    @property
    def filled_fraction(self) -> float:
        """filled / (filled + real): the share of the windows' grid that is not data (0.0 for
        an empty grid). Hourly rows declared 15min: 3 of every 4 steps, 0.75."""
        return _filled_fraction(self.filled, self.real)

    def properties(self) -> dict[str, Any]:
        """{"filled", "real"} (totals), plus "splits": {split: {"filled", "real"}} when
        counted per split."""
        out: dict[str, Any] = {"filled": self.filled, "real": self.real}
        if self.splits:
            out["splits"] = {s.split: {"filled": s.filled, "real": s.real} for s in self.splits}
        return out

    @classmethod
    def from_property(cls, value: Any) -> GridSteps | None:
        """The GridSteps a `properties()` dict holds; None when unset (or not one). A value
        without "splits" (written before splits were counted) gives splits ()."""
        if not isinstance(value, Mapping) or "filled" not in value or "real" not in value:
            return None
        per_split = value.get("splits")
        splits: tuple[SplitGridSteps, ...] = ()
        if isinstance(per_split, Mapping):
            splits = tuple(
                SplitGridSteps(str(name), int(figures["filled"]), int(figures["real"]))
                for name, figures in per_split.items()
                if isinstance(figures, Mapping) and "filled" in figures and "real" in figures
            )
        return cls(filled=int(value["filled"]), real=int(value["real"]), splits=splits)


def split_definition_of(value: Any) -> dict[str, Any] | None:
    """A recorded split definition as a dict (None unless it is a non-empty mapping)."""
    return dict(value) if isinstance(value, Mapping) and value else None


def differing_definitions(
    lineage: Sequence[Mapping[str, Any]], current: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The split definitions of `lineage` (a Model's split_lineage) that are not `current`, in
    order: [] when every record the model was fitted on was split as `current` splits."""
    return [definition for definition in lineage if dict(definition) != dict(current)]


def split_definition_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What differs between two split definitions, one "field: X -> Y" per field (values as
    compact JSON; an absent field is "unset"); [] when they are equal."""

    def shown(definition: Mapping[str, Any], key: str) -> str:
        if key not in definition:
            return "unset"
        return json.dumps(definition[key], sort_keys=True, separators=(", ", ": "))

    keys = list(dict.fromkeys([*before, *after]))
    return [
        f"{key}: {shown(before, key)} -> {shown(after, key)}"
        for key in keys
        if before.get(key, _UNSET) != after.get(key, _UNSET)
    ]


_UNSET = object()


@dataclass(frozen=True)
class WindowSpec:
    """The sliding-window layout of series windows (schemas/series.py).

    Attributes:
        lookback: L history steps per window; horizon: H future steps.
        targets, covariates: the forecast columns and the extra input columns (all of them,
            future covariates included: the history's columns are targets + covariates).
        future_covariates: the covariates whose values over the horizon the windows also hold
            (`future/{column}` [H]); a subset of covariates, in their order.
        series_ids: the series seen (empty for one unnamed series).
        stride: steps between window starts; frequency: the grid ("30min", "MS"...).
    """

    lookback: int
    horizon: int
    targets: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    series_ids: tuple[str, ...] = ()
    stride: int = 1
    frequency: str | None = None
    future_covariates: tuple[str, ...] = ()

    @property
    def num_features(self) -> int:
        return len(self.targets) + len(self.covariates)

    def properties(self) -> dict[str, Any]:
        return {
            "lookback": self.lookback,
            "horizon": self.horizon,
            "targets": list(self.targets),
            "covariates": list(self.covariates),
            "future_covariates": list(self.future_covariates),
            "series_ids": list(self.series_ids),
            "stride": self.stride,
            "frequency": self.frequency,
        }

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> WindowSpec:
        """Parses (once, here) and checks the window properties of `artifact`."""
        artifact.require("lookback", "horizon", "targets")
        p = artifact.properties
        spec = cls(
            lookback=int(p["lookback"]),
            horizon=int(p["horizon"]),
            targets=tuple(str_list(p["targets"])),
            covariates=tuple(str_list(p.get("covariates"))),
            series_ids=tuple(str_list(p.get("series_ids"))),
            stride=int(p.get("stride") or 1),
            frequency=p.get("frequency"),
            future_covariates=tuple(str_list(p.get("future_covariates"))),
        )
        if spec.lookback < 1 or spec.horizon < 1 or not spec.targets:
            raise DataError(
                f"{artifact.type_name} at {artifact.uri}: expected lookback >= 1, horizon >= 1 "
                f"and at least one target, got lookback={spec.lookback}, "
                f"horizon={spec.horizon}, targets={list(spec.targets)}; re-run ingest_series "
                "with a valid windowing config"
            )
        if set(spec.targets) & set(spec.covariates) or len(set(spec.targets)) != len(spec.targets):
            raise DataError(
                f"{artifact.type_name} at {artifact.uri}: expected distinct target and "
                f"covariate columns, got targets={list(spec.targets)}, "
                f"covariates={list(spec.covariates)}"
            )
        if not set(spec.future_covariates) <= set(spec.covariates):
            raise DataError(
                f"{artifact.type_name} at {artifact.uri}: expected future_covariates among the "
                f"covariates, got future_covariates={list(spec.future_covariates)}, "
                f"covariates={list(spec.covariates)}; re-run ingest_series"
            )
        return spec


@dataclass
class SeriesWindows(Examples):
    """Sliding windows over time series from ingest_series: Examples a forecaster learns from.
    Accepted wherever Examples are (statistics, schema, validate).

    File structure:
        {uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz   one tf.Example per window:
            series_id, window_end, history/{column} [L], future/{target} [H]
            (schemas/series.py)

    Properties: the window layout (WindowSpec: lookback, horizon, targets, covariates,
    series_ids, stride, frequency), splits (time-ordered), counts (windows per split), points
    (rows per split), gaps, duplicates, out_of_order, off_grid, input, rejected.
    """

    TYPE_NAME: ClassVar[str] = "SeriesWindows"

    @property
    def windows(self) -> WindowSpec:
        return WindowSpec.from_artifact(self)

    @property
    def grid_steps(self) -> GridSteps | None:
        """gaps.filled_steps and the points of every split (ingest_series' counts), with
        gaps.filled_by_split and points per split as GridSteps.splits (() when the producer
        did not count filled steps per split); None when it did not record filled steps."""
        gaps = self.properties.get("gaps")
        if not isinstance(gaps, Mapping) or "filled_steps" not in gaps:
            return None
        points = int_map(self.properties.get("points"))
        by_split = gaps.get("filled_by_split")
        splits: tuple[SplitGridSteps, ...] = ()
        if isinstance(by_split, Mapping):
            filled = int_map(by_split)
            names = self.splits or list(points)
            names += [name for name in filled if name not in names]
            splits = tuple(
                SplitGridSteps(name, filled.get(name, 0), points.get(name, 0)) for name in names
            )
        return GridSteps(filled=int(gaps["filled_steps"]), real=sum(points.values()), splits=splits)


@dataclass
class TransformedExamples(SplitRecords):
    """Model-ready records written by transform.

    File structure:
        {uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz   gzip TFRecords of transformed
            tf.Example: text "tokens" int64 [max_tokens], "label_id" int64 []; series
            "history" float [L * F], "target" float [H * T], "target_offset" and
            "target_scale" float [T]

    Properties: splits, counts.
    """

    TYPE_NAME: ClassVar[str] = "TransformedExamples"


@dataclass
class RejectedRecords(Artifact):
    """Records an ingest component could not accept, each with its reason.

    File structure:
        {uri}/rejected-SSSSS-of-NNNNN.jsonl   one {"source", "position", "reason", "message",
                                              "record"} per line

    Properties: count, by_reason (reason code -> n, most frequent first).
    """

    TYPE_NAME: ClassVar[str] = "RejectedRecords"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("count", "by_reason")

    @property
    def count(self) -> int:
        return int(self.properties.get("count") or 0)
