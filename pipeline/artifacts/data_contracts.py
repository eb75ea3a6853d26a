"""Data-contract artifacts: ExampleStatistics, Schema, ExampleAnomalies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from seqline.pipeline.artifacts.base import Artifact, int_map, str_list
from seqline.pipeline.artifacts.examples import GridSteps
from seqline.storage import filesystem


@dataclass
class ExampleStatistics(Artifact):
    """Per-split statistics of an Examples artifact.

    File structure:
        {uri}/statistics.pb        tensorflow_metadata DatasetFeatureStatisticsList, binary,
                                   one dataset per split (name = split); readable by TFDV
        {uri}/statistics.pbtxt     the same in text format
        {uri}/report/index.html    summary with PNG histograms

    Properties: splits, counts (split -> examples), and the feature roles the statistics were
    computed with: label_feature, text_features, timestamp_feature, series_id_feature; span and
    spans (the Examples' span properties, when its source had a span pattern); grid_steps
    ({"filled", "real", "splits": {split: {"filled", "real"}}}: the Examples' GridSteps,
    totals over all splits and the same per split, for series windows whose producer counted
    filled steps; "splits" is absent when it did not count them per split; the windows
    themselves cannot tell a filled step).
    """

    TYPE_NAME: ClassVar[str] = "ExampleStatistics"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("counts",)
    STATISTICS_PB: ClassVar[str] = "statistics.pb"
    STATISTICS_PBTXT: ClassVar[str] = "statistics.pbtxt"
    REPORT_DIR: ClassVar[str] = "report"
    CONTRACT: ClassVar[str] = (
        f"an ExampleStatistics output needs {STATISTICS_PB} (a binary tensorflow_metadata "
        "DatasetFeatureStatisticsList, one dataset per split)"
    )

    def missing(self) -> list[str]:
        """[f"has no {STATISTICS_PB}"] when that file is absent, else []."""
        if filesystem.exists(self.path(self.STATISTICS_PB)):
            return []
        return [f"has no {self.STATISTICS_PB}"]

    @property
    def splits(self) -> list[str]:
        return str_list(self.properties.get("splits"))

    @property
    def counts(self) -> dict[str, int]:
        return int_map(self.properties.get("counts"))

    @property
    def label_feature(self) -> str:
        return str(self.properties.get("label_feature") or "")

    @property
    def text_features(self) -> list[str]:
        return str_list(self.properties.get("text_features"))

    @property
    def timestamp_feature(self) -> str | None:
        return self.properties.get("timestamp_feature")

    @property
    def series_id_feature(self) -> str | None:
        return self.properties.get("series_id_feature")

    @property
    def span(self) -> int | str | None:
        """The (latest) span the statistics describe; None without a span-pattern source."""
        return self.properties.get("span")

    @property
    def grid_steps(self) -> GridSteps | None:
        """Real and filled steps of the series grid the windows were cut from (copied from
        the Examples by the statistics node); None for text, or when not recorded."""
        return GridSteps.from_property(self.properties.get("grid_steps"))


@dataclass
class Schema(Artifact):
    """A tensorflow_metadata Schema: the data contract validate checks and transform parses by.

    File structure:
        {uri}/schema.pbtxt   the Schema in text format

    Properties: source ("curated" | "previous" | "inferred" | "validated"), origin (the curated
    path or the earlier artifact's uri; None when inferred), features (names).
    """

    TYPE_NAME: ClassVar[str] = "Schema"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("source",)
    SCHEMA_FILE: ClassVar[str] = "schema.pbtxt"
    CONTRACT: ClassVar[str] = (
        f"a Schema output needs {SCHEMA_FILE} (a tensorflow_metadata Schema in text format)"
    )

    def missing(self) -> list[str]:
        """[f"has no {SCHEMA_FILE}"] when that file is absent, else []."""
        return [] if filesystem.exists(self.schema_file) else [f"has no {self.SCHEMA_FILE}"]

    @property
    def schema_file(self) -> str:
        return self.path(self.SCHEMA_FILE)

    @property
    def source(self) -> str:
        return str(self.properties.get("source") or "")


@dataclass
class ExampleAnomalies(Artifact):
    """What validate found.

    File structure:
        {uri}/anomalies.pbtxt, anomalies.pb   tensorflow_metadata Anomalies (TFDV's format)
        {uri}/report.txt                      readable report
        {uri}/serving_statistics/             statistics of the serving data (with skew checks)

    Properties: blocking, warnings (counts), anomalies (["TYPE feature (split)", ...]),
    baseline (the previous span's statistics uri or None), span and baseline_span (the span
    validated and the span it was compared with; None without spans or without a baseline),
    serving (bool).
    """

    TYPE_NAME: ClassVar[str] = "ExampleAnomalies"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("blocking", "warnings")
    ANOMALIES_PBTXT: ClassVar[str] = "anomalies.pbtxt"
    ANOMALIES_PB: ClassVar[str] = "anomalies.pb"
    REPORT: ClassVar[str] = "report.txt"
    SERVING_DIR: ClassVar[str] = "serving_statistics"
    MAX_DESCRIBED: ClassVar[int] = 10

    @property
    def anomalies(self) -> list[str]:
        return str_list(self.properties.get("anomalies"))

    def describe(self) -> list[str]:
        """`seqline show`: each anomaly validate let through (a run that went on has only
        warnings), the first MAX_DESCRIBED of them, and where the full report is."""
        found = self.anomalies
        if not found:
            return []
        kind = "warning" if not self.properties.get("blocking") else "anomaly"
        lines = [f"- {kind}: {entry}" for entry in found[: self.MAX_DESCRIBED]]
        if len(found) > self.MAX_DESCRIBED:
            lines.append(f"- ... and {len(found) - self.MAX_DESCRIBED} more")
        return lines + [f"report: {self.uri.rstrip('/')}/{self.REPORT}"]
