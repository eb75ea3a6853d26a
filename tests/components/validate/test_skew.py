"""Training/serving skew in the validate executor: serving tf.Examples (no label, as at serving
time) are summarised like the span, checked against the schema's SERVING environment and
compared with `skew_split` through each feature's skew_comparator (the curated text schema:
Jensen-Shannon divergence of the text's token length, threshold 0.3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqline.components.statistics.config import StatisticsConfig
from seqline.components.statistics.statistics_files import write_statistics
from seqline.components.validate.component import COMPONENT
from seqline.components.validate.config import ValidateConfig
from seqline.components.validate.schema_checks import CheckOptions, check_split
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.errors import ConfigError, DataError
from seqline.schemas.feature_spec import SERVING, TRAINING
from seqline.schemas.loading import load_schema, write_schema
from tests.components.context import make_context
from tests.components.statistics.helpers import direct_statistics, serialize

JSD_HIGH = "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"


def reviews(n: int, base: int, spread: int, labelled: bool = True) -> list[dict]:
    """n reviews of base .. base + spread - 1 tokens (cycling), half pos / half neg."""
    out = []
    for i in range(n):
        length = base + i % spread
        record = {"text": " ".join(["film"] * length)}
        if labelled:
            record["label"] = "pos" if i % 2 else "neg"
        out.append(record)
    return out


def write_serving(folder: Path, records: list[dict], shards: int = 2) -> str:
    """Serving tf.Examples as gzip TFRecord shards; returns the glob matching them."""
    import tensorflow as tf

    folder.mkdir(parents=True)
    for shard in range(shards):
        path = folder / f"requests-{shard}.tfrecord.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for record in records[shard::shards]:
                writer.write(serialize(record))
    return str(folder / "requests-*.tfrecord.gz")


def validate(
    tmp_path: Path,
    serving_glob: str,
    config: ValidateConfig | None = None,
    role_properties: bool = True,
):
    """Runs the validate executor on a train split of 3..12-token labelled reviews; with
    `role_properties` the statistics artifact carries the roles the statistics node records."""
    roles = StatisticsConfig()
    properties = {
        "splits": ["train"],
        "label_feature": roles.label_feature,
        "text_features": list(roles.text_features),
        "timestamp_feature": None,
        "series_id_feature": None,
    }
    stats = Artifact(
        ArtifactType.STATISTICS,
        str(tmp_path / "statistics"),
        "fp-stats",
        producer={"node_id": "statistics"},
        properties=properties if role_properties else {"splits": ["train"]},
    )
    os.makedirs(stats.uri)
    write_statistics(direct_statistics({"train": reviews(200, 3, 10)}, roles), stats.uri)
    schema = Artifact(ArtifactType.SCHEMA, str(tmp_path / "schema"), "fp-schema")
    os.makedirs(schema.uri)
    write_schema(load_schema("builtin:text_classification"), schema.uri)
    outputs = {
        "anomalies": Artifact(ArtifactType.ANOMALIES, str(tmp_path / "out-a"), "fp-v"),
        "validated_schema": Artifact(ArtifactType.SCHEMA, str(tmp_path / "out-s"), "fp-v"),
    }
    for artifact in outputs.values():
        os.makedirs(artifact.uri)
    ctx = make_context(
        config=config or ValidateConfig(serving_examples=serving_glob),
        inputs={"statistics": stats, "schema": schema},
        outputs=outputs,
        node_id="validate",
        temp_dir=str(tmp_path),
    )
    return dict(COMPONENT.executor(ctx)), outputs


def test_serving_text_length_skew_blocks_naming_the_feature(tmp_path) -> None:
    serving = write_serving(tmp_path / "serving", reviews(120, 40, 10, labelled=False))
    with pytest.raises(DataError) as raised:
        validate(tmp_path, serving)
    message = str(raised.value)
    assert f"feature 'text' (serving vs train): {JSD_HIGH}" in message
    assert "Jensen-Shannon divergence of the token length <= 0.3" in message
    assert "1 blocking anomaly" in message  # only the skew: no missing label, no drift
    report = (tmp_path / "out-a" / "report.txt").read_text(encoding="utf-8")
    assert f"[ERROR] {JSD_HIGH}" in report and "data:     serving vs train" in report


def test_serving_skew_configured_as_warning_passes_and_is_recorded(tmp_path) -> None:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    serving = write_serving(tmp_path / "serving", reviews(120, 40, 10, labelled=False))
    config = ValidateConfig(serving_examples=serving, warning_types=(JSD_HIGH,))
    summary, outputs = validate(tmp_path, serving, config)
    assert summary["blocking"] == 0 and summary["anomalies"] == 1
    properties = outputs["anomalies"].properties
    assert properties["anomalies"] == [f"{JSD_HIGH} text (serving vs train)"]
    assert properties["serving"] is True
    proto = text_format.Parse(
        (Path(outputs["anomalies"].uri) / "anomalies.pbtxt").read_text(encoding="utf-8"),
        anomalies_pb2.Anomalies(),
    )
    info = proto.anomaly_info["text"]
    assert info.severity == anomalies_pb2.AnomalyInfo.WARNING
    assert [r.type for r in info.reason] == [anomalies_pb2.AnomalyInfo.Type.Value(JSD_HIGH)]
    (skew,) = proto.drift_skew_info
    assert list(skew.path.step) == ["text"] and not skew.drift_measurements
    (measurement,) = skew.skew_measurements
    assert measurement.threshold == pytest.approx(0.3) and measurement.value > 0.9
    # The serving statistics are kept next to the anomalies.
    assert (Path(outputs["anomalies"].uri) / "serving_statistics" / "statistics.pb").exists()


def test_skew_is_caught_without_role_properties_on_the_statistics(tmp_path) -> None:
    # The text feature is read off the span's statistics (it has token-length statistics), so
    # the serving text gets a token-length histogram too and the skew is measured, not 0.
    serving = write_serving(tmp_path / "serving", reviews(120, 40, 10, labelled=False))
    with pytest.raises(DataError, match=f"feature 'text' \\(serving vs train\\): {JSD_HIGH}"):
        validate(tmp_path, serving, role_properties=False)


def test_serving_from_the_training_distribution_has_no_skew(tmp_path) -> None:
    serving = write_serving(tmp_path / "serving", reviews(60, 3, 10, labelled=False))
    summary, outputs = validate(tmp_path, serving)
    assert summary == {"anomalies": 0, "blocking": 0, "warnings": 0, "drift_baseline": False}
    assert outputs["anomalies"].properties["anomalies"] == []
    assert outputs["anomalies"].properties["serving"] is True


def test_serving_without_label_is_not_a_missing_column() -> None:
    schema = load_schema("builtin:text_classification")
    serving = direct_statistics({"serving": reviews(30, 3, 10, labelled=False)}).datasets[0]
    options = CheckOptions()
    assert check_split(serving, schema, SERVING, "serving", options) == []
    # The same data checked as training data does miss the label (the test discriminates).
    training = check_split(serving, schema, TRAINING, "serving", options)
    assert [(a.type, a.feature) for a in training] == [("SCHEMA_MISSING_COLUMN", "label")]


def test_serving_glob_matching_nothing_names_the_path(tmp_path) -> None:
    missing = str(tmp_path / "no-such-dir" / "requests-*.tfrecord.gz")
    with pytest.raises(DataError) as raised:
        validate(tmp_path, missing)
    message = str(raised.value)
    assert "serving_examples" in message and repr(missing) in message
    assert "found none" in message
    assert not (tmp_path / "out-a" / "anomalies.pbtxt").exists()  # nothing half-written


def test_unknown_skew_split_is_a_config_error_before_any_work(tmp_path) -> None:
    serving = write_serving(tmp_path / "serving", reviews(10, 3, 10, labelled=False))
    config = ValidateConfig(serving_examples=serving, skew_split="eval")
    with pytest.raises(ConfigError, match=r"validate.skew_split: .*\['train'\], got 'eval'"):
        validate(tmp_path, serving, config)
    assert not (tmp_path / "out-a" / "serving_statistics").exists()
