"""Each anomaly kind is triggered by a crafted dataset and named in the report; clean data
produces none. Statistics are computed directly (same combiners as the component, no Beam)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from seqline.components.schema.inference import InferenceOptions, infer_schema
from seqline.components.statistics.config import StatisticsConfig
from seqline.components.validate.anomaly import (
    ERROR,
    WARNING,
    assign_severity,
    report_text,
    to_proto,
)
from seqline.components.validate.schema_checks import CheckOptions, check_split
from seqline.schemas.annotations import series_frequency
from seqline.schemas.feature_spec import SERVING, TRAINING
from tests.components.statistics.helpers import direct_statistics


def clean_records(n: int = 60) -> list[dict]:
    return [
        {
            "text": f"review number {i} is {'good' if i % 2 else 'bad'}",
            "label": "pos" if i % 2 else "neg",
            "x": float(i % 7) / 2.0,
            "k": i % 5,
            "cat": "ab"[i % 2],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def schema() -> schema_pb2.Schema:
    stats = direct_statistics({"train": clean_records()})
    return infer_schema(stats, InferenceOptions(label_feature="label", labels=("neg", "pos")))


def anomalies_of(
    records: list[dict], schema, environment: str = TRAINING, split: str = "train", **options
):
    stats = direct_statistics({split: records}, StatisticsConfig())
    found = check_split(stats.datasets[0], schema, environment, split, CheckOptions(**options))
    assign_severity(found, ("SCHEMA_NEW_COLUMN",), schema)
    return found


def mutate(change) -> list[dict]:
    records = clean_records()
    for i, record in enumerate(records):
        change(i, record)
    return records


def test_clean_data_has_no_anomalies(schema) -> None:
    found = anomalies_of(clean_records(), schema)
    assert found == []
    assert "No anomalies" in report_text(found)


CASES = {
    "SCHEMA_NEW_COLUMN": lambda i, r: r.update(extra="x"),
    "SCHEMA_MISSING_COLUMN": lambda i, r: r.pop("cat"),
    "UNEXPECTED_DATA_TYPE": lambda i, r: r.update(k=float(r["k"])),
    "FEATURE_TYPE_LOW_FRACTION_PRESENT": lambda i, r: r.pop("x") if i % 3 == 0 else None,
    "FEATURE_TYPE_LOW_NUMBER_VALUES": lambda i, r: (
        r.update(k=np.zeros(0, dtype=np.int64)) if i == 4 else None
    ),
    "FEATURE_TYPE_HIGH_NUMBER_VALUES": lambda i, r: r.update(k=[1, 2]) if i == 4 else None,
    "ENUM_TYPE_UNEXPECTED_STRING_VALUES": lambda i, r: (
        r.update(label="maybe") if i % 10 == 0 else None
    ),
    "INT_TYPE_SMALL_INT": lambda i, r: r.update(k=-3) if i == 8 else None,
    "FLOAT_TYPE_SMALL_FLOAT": lambda i, r: r.update(x=-0.5) if i == 8 else None,
    "FLOAT_TYPE_HAS_NAN": lambda i, r: r.update(x=math.nan) if i == 8 else None,
    "FLOAT_TYPE_HAS_INF": lambda i, r: r.update(x=math.inf) if i == 8 else None,
    "TEXT_EMPTY_FRACTION_HIGH": lambda i, r: r.update(text="   ") if i % 4 == 0 else None,
}
FEATURE = {
    "SCHEMA_NEW_COLUMN": "extra",
    "SCHEMA_MISSING_COLUMN": "cat",
    "UNEXPECTED_DATA_TYPE": "k",
    "FEATURE_TYPE_LOW_FRACTION_PRESENT": "x",
    "FEATURE_TYPE_LOW_NUMBER_VALUES": "k",
    "FEATURE_TYPE_HIGH_NUMBER_VALUES": "k",
    "ENUM_TYPE_UNEXPECTED_STRING_VALUES": "label",
    "INT_TYPE_SMALL_INT": "k",
    "FLOAT_TYPE_SMALL_FLOAT": "x",
    "FLOAT_TYPE_HAS_NAN": "x",
    "FLOAT_TYPE_HAS_INF": "x",
    "TEXT_EMPTY_FRACTION_HIGH": "text",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_anomaly_kind_is_detected_and_reported(schema, kind: str) -> None:
    found = anomalies_of(mutate(CASES[kind]), schema)
    assert [(a.type, a.feature) for a in found] == [(kind, FEATURE[kind])]
    anomaly = found[0]
    assert anomaly.severity == (WARNING if kind == "SCHEMA_NEW_COLUMN" else ERROR)
    report = report_text(found)
    assert kind in report and f"feature:  {FEATURE[kind]}" in report
    proto = to_proto(found, schema)
    reason = proto.anomaly_info[FEATURE[kind]].reason[0]
    expected_type = "CUSTOM_VALIDATION" if kind.startswith("TEXT_") else kind
    assert anomalies_pb2.AnomalyInfo.Type.Name(reason.type) == expected_type
    assert kind in reason.short_description


@pytest.mark.parametrize("empty_text", ["#@!; !!!", "<br /><br />", "...", "   "])
def test_texts_with_no_token_after_standardization_count_as_empty(schema, empty_text) -> None:
    """A corpus of punctuation once passed validation (it has whitespace tokens), and a model
    trained on padding alone was blessed and pushed. Empty means empty to the model."""
    found = anomalies_of(
        mutate(lambda i, r: r.update(text=empty_text) if i % 4 == 0 else None), schema
    )
    assert [(a.type, a.feature) for a in found] == [("TEXT_EMPTY_FRACTION_HIGH", "text")]
    assert anomalies_of(mutate(lambda i, r: r.update(text="a.b!") if i % 4 == 0 else None),
                        schema) == []  # fmt: skip


def test_a_train_split_of_one_label_blocks(schema) -> None:
    """A classifier trained on one class was blessed with accuracy 1.0 when the test split
    held only that class too."""
    found = anomalies_of(mutate(lambda i, r: r.update(label="pos")), schema)
    assert [(a.type, a.feature, a.severity) for a in found] == [
        ("LABEL_SINGLE_CLASS", "label", ERROR)
    ]
    assert "every example of split 'train' is labelled 'pos'" in found[0].message()
    reason = to_proto(found, schema).anomaly_info["label"].reason[0]
    assert anomalies_pb2.AnomalyInfo.Type.Name(reason.type) == "CUSTOM_VALIDATION"


@pytest.mark.parametrize("split", ["fit", "eval", "test"])
def test_a_split_of_one_label_blocks_whatever_its_name(schema, split: str) -> None:
    """With split_ratios {fit, eval, test} and train.train_split: fit, one-label data passed
    (only a split named "train" was checked) and a one-class classifier was pushed. Validate
    cannot see which split train fits on, so every split is checked."""
    found = anomalies_of(mutate(lambda i, r: r.update(label="neg")), schema, split=split)
    assert [(a.type, a.split, a.severity) for a in found] == [("LABEL_SINGLE_CLASS", split, ERROR)]
    assert f"every example of split {split!r} is labelled 'neg'" in found[0].message()


def test_messages_name_expectation_and_observation(schema) -> None:
    found = anomalies_of(mutate(CASES["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]), schema)
    message = found[0].message()
    assert "feature 'label'" in message
    assert "['neg', 'pos']" in message  # the expectation
    assert "'maybe' (6)" in message  # the observed value and how often


def test_no_data_in_span(schema) -> None:
    found = anomalies_of([], schema)
    assert [a.type for a in found] == ["NO_DATA_IN_SPAN"]


def test_serving_environment_expects_no_label(schema) -> None:
    serving = [{k: v for k, v in r.items() if k != "label"} for r in clean_records()]
    assert anomalies_of(serving, schema, SERVING) == []
    found = anomalies_of(clean_records(), schema, SERVING)
    assert [(a.type, a.feature) for a in found] == [("SCHEMA_NEW_COLUMN", "label")]


def test_lifecycle_alpha_features_only_warn(schema) -> None:
    relaxed = schema_pb2.Schema()
    relaxed.CopyFrom(schema)
    next(f for f in relaxed.feature if f.name == "k").lifecycle_stage = schema_pb2.ALPHA
    found = anomalies_of(mutate(CASES["INT_TYPE_SMALL_INT"]), relaxed)
    assert [(a.type, a.severity) for a in found] == [("INT_TYPE_SMALL_INT", WARNING)]


def series_records(step: int = 60, extra: list[dict] | None = None) -> list[dict]:
    records = [{"sid": sid, "ts": i * step, "y": float(i)} for sid in ("a", "b") for i in range(20)]
    return records + (extra or [])


SERIES_CONFIG = StatisticsConfig(
    text_features=(), label_feature="", timestamp_feature="ts", series_id_feature="sid"
)


def series_anomalies(records: list[dict], schema, **options):
    stats = direct_statistics({"train": records}, SERIES_CONFIG)
    return check_split(stats.datasets[0], schema, TRAINING, "train", CheckOptions(**options))


def test_series_anomalies() -> None:
    schema = infer_schema(
        direct_statistics({"train": series_records()}, SERIES_CONFIG),
        InferenceOptions(series_id_feature="sid"),
    )
    ts = next(f for f in schema.feature if f.name == "ts")
    assert series_frequency(ts) == 60 and ts.HasField("time_domain")
    assert series_anomalies(series_records(), schema) == []

    repeated = series_anomalies(series_records(extra=[{"sid": "a", "ts": 120, "y": 0.0}]), schema)
    assert [(a.type, a.feature) for a in repeated] == [("SERIES_NON_MONOTONIC_TIMESTAMPS", "ts")]
    decreasing = series_anomalies(
        series_records(extra=[{"sid": "c", "ts": [60, 0], "y": 0.0}]), schema
    )
    assert sorted((a.type, a.feature) for a in decreasing) == [
        ("FEATURE_TYPE_HIGH_NUMBER_VALUES", "ts"),  # the schema says one timestamp per example
        ("SERIES_NON_MONOTONIC_TIMESTAMPS", "ts"),
    ]

    off_grid = series_anomalies(series_records(extra=[{"sid": "a", "ts": 1170, "y": 0.0}]), schema)
    assert [a.type for a in off_grid] == ["SERIES_IRREGULAR_TIMESTAMPS"]
    assert "off the series' step" in off_grid[0].observed

    hourly = series_anomalies(series_records(step=3600), schema)
    assert [a.type for a in hourly] == ["SERIES_IRREGULAR_TIMESTAMPS"]
    assert "series spaced by 3600 (2 series)" in hourly[0].observed

    gappy = [r for r in series_records() if not (r["sid"] == "a" and r["ts"] in (300, 360, 420))]
    # One gap of 3 missing steps; the grid has 35 spacings + 3 missing steps: 7.9% missing.
    strict = series_anomalies(gappy, schema, max_gap_fraction=0.05)
    assert [a.type for a in strict] == ["SERIES_IRREGULAR_TIMESTAMPS"]
    assert "7.89% of the grid's steps missing (3 missing steps in 1 gap(s))" in strict[0].observed
    assert series_anomalies(gappy, schema, max_gap_fraction=0.08) == []
    # Weighed by spacings, this one gap would be 1 in 35 (2.9%) and pass a 5% bound.
