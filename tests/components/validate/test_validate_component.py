"""The validate executor: drift against the previous accepted span found through the metadata
store (label 50/50 -> 90/10 is caught), warnings pass, blocking anomalies raise DataError and
keep the report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from seqline.components.statistics.statistics_files import write_statistics
from seqline.components.validate.anomaly import Anomaly
from seqline.components.validate.component import COMPONENT, advice
from seqline.components.validate.config import ValidateConfig
from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from seqline.pipeline.errors import DataError
from seqline.pipeline.harness import run_component
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.resolvers import PreviousStatistics, ResolverQuery
from seqline.schemas.loading import load_schema, write_schema
from tests.components.context import make_context
from tests.components.statistics.helpers import direct_statistics


def reviews(n: int, positive_share: float) -> list[dict]:
    positives = round(n * positive_share)
    return [
        {"text": f"a {'fine' if i < positives else 'poor'} film " * (1 + i % 4),
         "label": "pos" if i < positives else "neg"}
        for i in range(n)
    ]  # fmt: skip


class Span:
    """Statistics artifacts of a fake pipeline, registered in a real metadata store."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = str(tmp_path / "root")
        self.store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
        self.schema = Artifact(ArtifactType.SCHEMA, str(tmp_path / "schema"), "fp-schema")
        os.makedirs(self.schema.uri)
        write_schema(load_schema("builtin:text_classification"), self.schema.uri)
        self.count = 0

    def statistics(self, positive_share: float, accepted: bool, extra: bool = False) -> Artifact:
        """Publishes a statistics artifact; `accepted` also records a validate execution that
        passed it (i.e. published anomalies with it as input); `extra` adds a column."""
        self.count += 1
        run = f"run-{self.count}"
        records = reviews(200, positive_share)
        for record in records if extra else ():
            record["source"] = "web"
        stats = direct_statistics({"train": records})
        fingerprint = f"fp{self.count}"
        uri = os.path.join(self.root, "statistics", "statistics", fingerprint)
        os.makedirs(uri)
        write_statistics(stats, uri)
        producer = {"node_id": "statistics", "component": "statistics", "run_id": run}
        artifact = Artifact(ArtifactType.STATISTICS, uri, fingerprint, producer)
        artifact.created = time.time()
        write_descriptor(artifact, uri)
        self.store.start_run(run, "p")
        execution = self.store.start_execution(run, "statistics", "statistics", fingerprint, {})
        artifact_id = self.store.record_output(
            execution, "statistics", uri=uri, type_name=artifact.type_name,
            fingerprint=fingerprint, node_id="statistics", properties={},
            created_at=artifact.created,
        )  # fmt: skip
        if accepted:
            validation = self.store.start_execution(
                run, "validate", "validate", f"v{fingerprint}", {"statistics": artifact_id}
            )
            self.store.record_output(
                validation, "anomalies", uri=f"{self.root}/validate/anomalies/v{fingerprint}",
                type_name=ArtifactType.ANOMALIES, fingerprint=f"v{fingerprint}",
                node_id="validate", properties={}, created_at=time.time(),
            )  # fmt: skip
        return artifact

    def baseline(self, statistics: Artifact, config: ValidateConfig) -> Artifact | None:
        """What the runner resolves for validate's `baseline_statistics`."""
        query = ResolverQuery(
            self.store, "p", self.root, "validate", config, {"statistics": statistics}
        )
        return PreviousStatistics().resolve(query)

    def validate(self, tmp_path: Path, statistics: Artifact, config: ValidateConfig | None = None):
        outputs = {
            "anomalies": Artifact(ArtifactType.ANOMALIES, str(tmp_path / "out-a"), "fp-v"),
            "validated_schema": Artifact(ArtifactType.SCHEMA, str(tmp_path / "out-s"), "fp-v"),
        }
        for artifact in outputs.values():
            os.makedirs(artifact.uri, exist_ok=True)
        config = config or ValidateConfig()
        ctx = make_context(
            config=config,
            inputs={"statistics": statistics, "schema": self.schema},
            outputs=outputs,
            run_id=f"run-{self.count}",
            node_id="validate",
            pipeline_root=self.root,
            resolved={"baseline_statistics": self.baseline(statistics, config)},
        )
        return dict(COMPONENT.executor(ctx)), outputs


def test_label_shift_against_previous_span_blocks(tmp_path) -> None:
    span = Span(tmp_path)
    span.statistics(0.5, accepted=True)
    drifted = span.statistics(0.9, accepted=False)
    config = ValidateConfig()
    with pytest.raises(DataError) as raised:  # run as the runner runs it: failed outputs kept
        run_component(
            COMPONENT,
            config,
            {"statistics": drifted, "schema": span.schema},
            root=span.root,
            resolved={"baseline_statistics": span.baseline(drifted, config)},
            node_id="validate",
            run_id="run-2",
        )
    message = str(raised.value)
    assert "feature 'label' (train vs previous span): COMPARATOR_L_INFTY_HIGH" in message
    assert "L-infinity distance <= 0.2" in message  # the expectation
    # Drift advice: thresholds or validate.drift; re-inferring the schema cannot help drift.
    assert "schema.label_drift_threshold" in message and "validate.drift: false" in message
    assert "reuse_inferred" not in message
    assert "observed 0.4" in message and "pos 50.0% -> 90.0%" in message
    kept = os.path.join(span.root, "_failed", "run-2", "validate", "anomalies", "report.txt")
    assert f"Full report: {kept}" in message
    report = Path(kept).read_text(encoding="utf-8")
    assert "[ERROR] COMPARATOR_L_INFTY_HIGH" in report and "feature:  label" in report


def test_small_shift_passes_and_records_the_baseline(tmp_path) -> None:
    span = Span(tmp_path)
    first = span.statistics(0.5, accepted=True)
    span.statistics(0.9, accepted=False)  # a rejected span never becomes the baseline
    current = span.statistics(0.55, accepted=False)
    assert span.baseline(current, ValidateConfig()).uri == first.uri
    summary, outputs = span.validate(tmp_path, current)
    assert summary == {"anomalies": 0, "blocking": 0, "warnings": 0, "drift_baseline": True}
    assert outputs["anomalies"].properties["baseline"] == first.uri
    assert "No anomalies" in Path(outputs["anomalies"].uri, "report.txt").read_text()
    assert load_schema(outputs["validated_schema"].uri) == load_schema(span.schema.uri)


def test_first_span_and_warnings_do_not_stop(tmp_path) -> None:
    span = Span(tmp_path)
    current = span.statistics(0.9, accepted=False)
    assert span.baseline(current, ValidateConfig()) is None
    config = ValidateConfig(
        warning_types=("SCHEMA_NEW_COLUMN", "ENUM_TYPE_UNEXPECTED_STRING_VALUES")
    )
    summary, outputs = span.validate(tmp_path, current, config)
    assert summary["drift_baseline"] is False and summary["blocking"] == 0
    assert outputs["anomalies"].properties["anomalies"] == []


def _anomaly(kind: str, measurement=None) -> Anomaly:
    return Anomaly("label", "train", kind, "short", "expected", "observed", measurement=measurement)


@pytest.mark.parametrize(
    ("kind", "measurement", "expected"),
    [
        ("NO_DATA_IN_SPAN", None, "ingest source pattern"),
        ("LABEL_SINGLE_CLASS", None, "rebalance the splits"),
        ("COMPARATOR_L_INFTY_HIGH", ("drift", "L_INFTY", 0.4, 0.2), "validate.drift: false"),
        ("SERIES_FILLED_FRACTION_HIGH", None, "validate.max_filled_fraction"),
    ],
)
def test_advice_fits_the_anomaly_kind(kind, measurement, expected) -> None:
    """'set schema.reuse_inferred: false for one run' was printed for every blocking
    anomaly, though re-inferring the schema cannot help drift, an empty span or a one-class
    split."""
    text = " ".join(advice([_anomaly(kind, measurement)], "previous", "/root/schema/x"))
    assert expected in text
    assert "reuse_inferred" not in text
    assert f"validate.warning_types ({kind})" in text


def test_contract_advice_follows_the_schema_source() -> None:
    unexpected = [_anomaly("ENUM_TYPE_UNEXPECTED_STRING_VALUES")]
    reused = " ".join(advice(unexpected, "previous", "/root/schema/x"))
    assert "schema.reuse_inferred: false" in reused
    curated = " ".join(advice(unexpected, "curated", "/repo/schema.pbtxt"))
    assert "edit the curated schema" in curated and "reuse_inferred" not in curated
    inferred = " ".join(advice(unexpected, "inferred", "/root/schema/x"))
    assert "set schema.curated_schema" in inferred and "reuse_inferred" not in inferred
