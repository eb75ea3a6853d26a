"""An anomaly as a value, its severity, and its two renderings: the tensorflow_metadata
Anomalies proto (what TFDV writes) and a plain-text report (what a person reads)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

ERROR = "ERROR"
WARNING = "WARNING"

# seqline's own anomaly names (no TFDV equivalent): reason type CUSTOM_VALIDATION.
CUSTOM_TYPES = (
    "TEXT_EMPTY_FRACTION_HIGH",
    "LABEL_SINGLE_CLASS",
    "SERIES_NON_MONOTONIC_TIMESTAMPS",
    "SERIES_IRREGULAR_TIMESTAMPS",
    "SERIES_FILLED_FRACTION_HIGH",
)


@dataclass
class Anomaly:
    """One finding.

    Attributes:
        feature: the feature name ("" for dataset-level anomalies such as NO_DATA_IN_SPAN).
        split: which data: a split name, "serving", or "<split> vs previous span".
        type: the anomaly name, e.g. "ENUM_TYPE_UNEXPECTED_STRING_VALUES".
        short: a few words ("Unexpected string values").
        expected / observed: what the schema demands and what the data shows.
        severity: ERROR (blocks the pipeline) or WARNING; set by `assign_severity`.
        measurement: for drift / skew, ("drift" | "skew", "L_INFTY" | "JENSEN_SHANNON_DIVERGENCE",
            value, threshold).
    """

    feature: str
    split: str
    type: str
    short: str
    expected: str
    observed: str
    severity: str = ERROR
    measurement: tuple[str, str, float, float] | None = field(default=None)

    @property
    def description(self) -> str:
        return f"expected {self.expected}; observed {self.observed}"

    def message(self) -> str:
        """One line naming the feature, the expectation and the observed value."""
        where = f"feature '{self.feature}'" if self.feature else "dataset"
        return f"{where} ({self.split}): {self.type} — {self.description}"


def assign_severity(
    anomalies: Sequence[Anomaly],
    warning_types: Collection[str],
    schema: schema_pb2.Schema,
) -> None:
    """WARNING for names in `warning_types` and for features in lifecycle stages that are not
    yet (or no longer) production: ALPHA, PLANNED, DEBUG_ONLY; ERROR for everything else."""
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    relaxed = {schema_pb2.ALPHA, schema_pb2.PLANNED, schema_pb2.DEBUG_ONLY}
    stages = {f.name: f.lifecycle_stage for f in schema.feature}
    for anomaly in anomalies:
        soft = anomaly.type in warning_types or stages.get(anomaly.feature) in relaxed
        anomaly.severity = WARNING if soft else ERROR


def blocking(anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    return [a for a in anomalies if a.severity == ERROR]


def to_proto(anomalies: Sequence[Anomaly], schema: schema_pb2.Schema) -> anomalies_pb2.Anomalies:
    """An Anomalies proto: anomaly_info keyed by feature name (reasons from every split),
    dataset-level ones in dataset_anomaly_info, drift / skew figures in drift_skew_info."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2  # noqa: PLC0415

    out = anomalies_pb2.Anomalies()
    out.baseline.CopyFrom(schema)
    out.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
    reason_type = anomalies_pb2.AnomalyInfo.Type
    drift: dict[str, anomalies_pb2.DriftSkewInfo] = {}
    for anomaly in anomalies:
        info = out.anomaly_info[anomaly.feature] if anomaly.feature else out.dataset_anomaly_info
        if anomaly.feature:
            info.path.step[:] = [anomaly.feature]
        severity = anomalies_pb2.AnomalyInfo.Severity.Value(anomaly.severity)
        info.severity = max(info.severity, severity)
        info.reason.add(
            type=reason_type.Value(
                "CUSTOM_VALIDATION" if anomaly.type in CUSTOM_TYPES else anomaly.type
            ),
            short_description=f"{anomaly.type}: {anomaly.short} ({anomaly.split})",
            description=anomaly.description,
        )
        descriptions = [r.description for r in info.reason]
        info.short_description = (
            info.reason[0].short_description if len(descriptions) == 1 else "Multiple errors"
        )
        info.description = " ".join(descriptions)
        if anomaly.measurement is not None:
            kind, measure, value, threshold = anomaly.measurement
            entry = drift.get(anomaly.feature)
            if entry is None:
                entry = drift[anomaly.feature] = out.drift_skew_info.add()
                entry.path.step.append(anomaly.feature)
            target = entry.drift_measurements if kind == "drift" else entry.skew_measurements
            target.add(
                type=anomalies_pb2.DriftSkewInfo.Measurement.Type.Value(measure),
                value=value,
                threshold=threshold,
            )
    return out


def report_text(anomalies: Sequence[Anomaly], context: Sequence[str] = ()) -> str:
    """The readable report: a header (`context` lines), then one block per anomaly."""
    lines = ["seqline data validation report", "=" * 30, *context, ""]
    errors = blocking(anomalies)
    lines.append(
        f"{len(anomalies)} anomalies: {len(errors)} blocking (ERROR), "
        f"{len(anomalies) - len(errors)} warnings"
    )
    lines.append("")
    if not anomalies:
        lines.append("No anomalies: the data matches the schema.")
    for anomaly in sorted(anomalies, key=lambda a: (a.severity != ERROR, a.feature, a.split)):
        lines.append(f"[{anomaly.severity}] {anomaly.type}")
        lines.append(f"  feature:  {anomaly.feature or '(dataset)'}")
        lines.append(f"  data:     {anomaly.split}")
        lines.append(f"  expected: {anomaly.expected}")
        lines.append(f"  observed: {anomaly.observed}")
        lines.append("")
    return "\n".join(lines) + "\n"
