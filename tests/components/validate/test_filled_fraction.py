"""validate.max_filled_fraction: a series dataset whose grid ingest mostly filled (hourly rows
declared `frequency: 15min`: 3 of every 4 steps interpolated) is blocked, one with a few filled
gaps passes. The windows' statistics cannot see filled steps, so ingest's counts travel from
the Examples (gaps.filled_steps, points) through the statistics' `grid_steps` property."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.counts import examples_properties
from seqline.components.statistics.config import StatisticsConfig
from seqline.components.validate.component import COMPONENT
from seqline.components.validate.config import ValidateConfig
from seqline.components.validate.schema_checks import CheckOptions, check_filled_steps
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.artifacts import (
    Examples,
    ExampleStatistics,
    GridSteps,
    SeriesWindows,
    SplitGridSteps,
)
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.fingerprint import config_json
from seqline.pipeline.harness import run_component
from tests.components.statistics.helpers import direct_statistics, run_statistics, write_examples

# What ingest_series counted for 400 hourly rows declared 15min (the reported pipeline).
OVERFILLED = GridSteps(filled=1191, real=400)
A_FEW_GAPS = GridSteps(filled=3, real=1000)
# A clean train and eval, and a test split 60% interpolated: 8.6% filled over all splits.
TEST_MOSTLY_FILLED = GridSteps(
    filled=120, real=1280,
    splits=(SplitGridSteps("train", 0, 1000), SplitGridSteps("eval", 0, 200),
            SplitGridSteps("test", 120, 80)),
)  # fmt: skip
CLEAN = GridSteps(
    filled=4, real=1280,
    splits=(SplitGridSteps("train", 3, 1000), SplitGridSteps("eval", 0, 200),
            SplitGridSteps("test", 1, 80)),
)  # fmt: skip


def test_a_mostly_filled_grid_is_an_anomaly_naming_counts_and_fix() -> None:
    assert check_filled_steps(A_FEW_GAPS, CheckOptions()) == []
    assert check_filled_steps(None, CheckOptions()) == []  # text: no grid
    [anomaly] = check_filled_steps(OVERFILLED, CheckOptions())
    assert (anomaly.type, anomaly.feature, anomaly.split) == (
        "SERIES_FILLED_FRACTION_HIGH",
        "",
        "all splits",
    )
    assert "<= 25.00% of the grid's steps filled" in anomaly.expected
    assert "74.86% filled (1191 filled and 400 real steps of 1591)" in anomaly.observed
    assert "ingest_series.frequency" in anomaly.observed
    assert "validate.max_filled_fraction" in anomaly.observed
    assert GridSteps(filled=1, real=1).filled_fraction == 0.5  # a frequency 2x finer
    assert GridSteps(filled=0, real=0).filled_fraction == 0.0


def test_a_mostly_filled_split_is_blocked_naming_it_though_the_total_is_low() -> None:
    assert TEST_MOSTLY_FILLED.filled_fraction < 0.25  # what the totals check saw: a pass
    [anomaly] = check_filled_steps(TEST_MOSTLY_FILLED, CheckOptions())
    assert (anomaly.type, anomaly.feature, anomaly.split) == (
        "SERIES_FILLED_FRACTION_HIGH",
        "",
        "test",
    )
    assert "<= 25.00% of the grid's steps filled" in anomaly.expected
    assert "split 'test': 60.00% filled (120 filled and 80 real steps of 200" in anomaly.observed
    assert "all splits 8.57%, 120 filled and 1280 real" in anomaly.observed
    assert "scored on made-up targets" in anomaly.observed
    assert "validate.max_filled_fraction" in anomaly.observed
    assert anomaly.message().startswith("dataset (test): SERIES_FILLED_FRACTION_HIGH")
    assert check_filled_steps(CLEAN, CheckOptions()) == []
    assert check_filled_steps(TEST_MOSTLY_FILLED, CheckOptions(max_filled_fraction=0.6)) == []
    # Every split over the limit is named, in split order.
    both = GridSteps(
        filled=300, real=1280,
        splits=(SplitGridSteps("train", 0, 1000), SplitGridSteps("eval", 180, 200),
                SplitGridSteps("test", 120, 80)),
    )  # fmt: skip
    assert [a.split for a in check_filled_steps(both, CheckOptions())] == ["eval", "test"]


def test_grid_steps_without_per_split_figures_are_checked_on_totals_and_say_so() -> None:
    [anomaly] = check_filled_steps(OVERFILLED, CheckOptions())
    assert anomaly.split == "all splits"
    assert "counted over all splits only (the examples carry no per-split counts" in (
        anomaly.observed
    )
    # An old statistics property ({"filled", "real"} only) reads as totals without splits.
    old = GridSteps.from_property({"filled": 120, "real": 1280})
    assert old == GridSteps(filled=120, real=1280) and old.splits == ()
    assert check_filled_steps(old, CheckOptions()) == []  # 8.6% in total: passes, as before
    assert GridSteps.from_property(TEST_MOSTLY_FILLED.properties()) == TEST_MOSTLY_FILLED
    assert TEST_MOSTLY_FILLED.properties()["splits"]["test"] == {"filled": 120, "real": 80}
    assert OVERFILLED.properties() == {"filled": 1191, "real": 400}  # no "splits" key


def test_the_limit_is_configurable_validated_and_fingerprinted() -> None:
    assert ValidateConfig().max_filled_fraction == 0.25
    assert check_filled_steps(OVERFILLED, CheckOptions(max_filled_fraction=0.8)) == []
    assert check_filled_steps(A_FEW_GAPS, CheckOptions(max_filled_fraction=0.0))
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ConfigError) as raised:
            ValidateConfig(max_filled_fraction=bad)
        assert f"max_filled_fraction: expected a fraction in [0, 1], got {bad}" in str(raised.value)
    # The config is part of the fingerprint: another limit is another execution.
    assert config_json(ValidateConfig()) != config_json(ValidateConfig(max_filled_fraction=0.5))


def test_grid_steps_come_from_ingest_properties_and_skip_text() -> None:
    config = IngestSeriesConfig(source="x.csv", frequency="15min", lookback=8, horizon=4)
    counts = {
        "input": 400, "rejected": 0, "by_reason": {}, "series_ids": [""],
        "points": {"train": 280, "eval": 60, "test": 60},
        "windows": {"train": 1106, "eval": 226, "test": 226},
        "stats": {"filled_steps": 1191},
    }  # fmt: skip
    windows = SeriesWindows(
        ArtifactType.SERIES_WINDOWS, "uri", "fp", properties=examples_properties(counts, config)
    )
    assert windows.grid_steps == OVERFILLED
    text = Examples(ArtifactType.EXAMPLES, "uri", "fp", properties={"splits": ["train"]})
    assert text.grid_steps is None
    del windows.properties["gaps"]  # Examples from before ingest counted filled steps
    assert windows.grid_steps is None
    stats = ExampleStatistics(ArtifactType.STATISTICS, "uri", "fp", properties={})
    assert stats.grid_steps is None
    stats.properties["grid_steps"] = OVERFILLED.properties()
    assert stats.grid_steps == OVERFILLED


def test_per_split_grid_steps_come_from_ingest_properties() -> None:
    config = IngestSeriesConfig(source="x.csv", frequency="1h", lookback=8, horizon=4)
    counts = {
        "input": 1280, "rejected": 0, "by_reason": {}, "series_ids": [""],
        "points": {"train": 1000, "eval": 200, "test": 80},
        "filled_by_split": {"test": 120},  # splits with no key filled nothing
        "windows": {"train": 989, "eval": 189, "test": 189},
        "stats": {"filled_steps": 120},
    }  # fmt: skip
    properties = examples_properties(counts, config)
    assert properties["gaps"]["filled_by_split"] == {"train": 0, "eval": 0, "test": 120}
    windows = SeriesWindows(ArtifactType.SERIES_WINDOWS, "uri", "fp", properties=properties)
    assert windows.grid_steps == TEST_MOSTLY_FILLED
    stats = ExampleStatistics(ArtifactType.STATISTICS, "uri", "fp", properties={})
    stats.properties["grid_steps"] = windows.grid_steps.properties()  # what statistics copies
    assert stats.grid_steps == TEST_MOSTLY_FILLED


def _series_records(n: int) -> list[dict]:
    return [
        {"series_id": "a", "window_end": 900 * i, "history/value": [float(i), float(i + 1)]}
        for i in range(n)
    ]


@pytest.mark.slow  # a small Beam run of the statistics executor (~2 s once TF is loaded)
def test_statistics_copy_ingest_counts_and_validate_blocks_on_them(tmp_path: Path) -> None:
    from seqline.components.schema.inference import InferenceOptions, infer_schema
    from seqline.schemas.loading import write_schema

    records = {"train": _series_records(40), "eval": _series_records(10)}
    examples = write_examples(tmp_path / "windows", records)
    examples.type_name = ArtifactType.SERIES_WINDOWS
    examples.properties.update(
        {"gaps": {"filled_steps": 1191}, "points": {"train": 320, "eval": 80}}
    )
    stats_config = StatisticsConfig(
        text_features=(), label_feature="", timestamp_feature="window_end",
        series_id_feature="series_id",
    )  # fmt: skip
    _summary, statistics = run_statistics(tmp_path, examples, stats_config)
    assert statistics.properties["grid_steps"] == {"filled": 1191, "real": 400}

    schema = Artifact(ArtifactType.SCHEMA, str(tmp_path / "schema"), "fp-schema")
    os.makedirs(schema.uri)
    direct = direct_statistics(records, stats_config)
    write_schema(infer_schema(direct, InferenceOptions(label_feature="")), schema.uri)
    statistics.created = 1.0
    inputs = {"statistics": statistics, "schema": schema}
    root = str(tmp_path / "root")
    with pytest.raises(DataError) as raised:
        run_component(
            COMPONENT, ValidateConfig(), inputs, root=root,
            resolved={"baseline_statistics": None}, node_id="validate", run_id="r1",
        )  # fmt: skip
    message = str(raised.value)
    assert "1 blocking anomaly" in message
    assert "dataset (all splits): SERIES_FILLED_FRACTION_HIGH" in message
    assert "74.86% filled (1191 filled and 400 real steps of 1591)" in message

    passed = run_component(
        COMPONENT, ValidateConfig(max_filled_fraction=0.8), inputs, root=root,
        resolved={"baseline_statistics": None}, node_id="validate", run_id="r2",
    )  # fmt: skip
    assert passed.summary["blocking"] == 0
    assert "SERIES_FILLED_FRACTION_HIGH" not in str(passed.outputs["anomalies"].properties)
    assert passed.outputs["anomalies"].properties["filled_fraction_checked"] is True
    assert passed.outputs["anomalies"].properties["filled_fraction_scope"] == "totals"

    # Series examples whose producer recorded no counts: the gate says it could not run.
    del statistics.properties["grid_steps"]
    unchecked = run_component(
        COMPONENT, ValidateConfig(), inputs, root=root,
        resolved={"baseline_statistics": None}, node_id="validate", run_id="r3",
    )  # fmt: skip
    assert unchecked.summary["blocking"] == 0
    assert unchecked.outputs["anomalies"].properties["filled_fraction_checked"] is False
    assert unchecked.outputs["anomalies"].properties["filled_fraction_scope"] is None


@pytest.mark.slow  # a small Beam run of the statistics executor (~2 s once TF is loaded)
def test_statistics_copy_per_split_counts_and_validate_blocks_the_filled_split(
    tmp_path: Path,
) -> None:
    from seqline.components.schema.inference import InferenceOptions, infer_schema
    from seqline.schemas.loading import write_schema

    records = {"train": _series_records(40), "eval": _series_records(10),
               "test": _series_records(10)}  # fmt: skip
    examples = write_examples(tmp_path / "windows", records)
    examples.type_name = ArtifactType.SERIES_WINDOWS
    examples.properties.update(
        {
            "splits": ["train", "eval", "test"],
            "gaps": {"filled_steps": 120, "filled_by_split": {"train": 0, "eval": 0, "test": 120}},
            "points": {"train": 1000, "eval": 200, "test": 80},
        }
    )
    stats_config = StatisticsConfig(
        text_features=(), label_feature="", timestamp_feature="window_end",
        series_id_feature="series_id",
    )  # fmt: skip
    _summary, statistics = run_statistics(tmp_path, examples, stats_config)
    assert statistics.properties["grid_steps"] == TEST_MOSTLY_FILLED.properties()

    schema = Artifact(ArtifactType.SCHEMA, str(tmp_path / "schema"), "fp-schema")
    os.makedirs(schema.uri)
    direct = direct_statistics(records, stats_config)
    write_schema(infer_schema(direct, InferenceOptions(label_feature="")), schema.uri)
    statistics.created = 1.0
    inputs = {"statistics": statistics, "schema": schema}
    root = str(tmp_path / "root")
    with pytest.raises(DataError) as raised:
        run_component(
            COMPONENT, ValidateConfig(splits=("train",)), inputs, root=root,
            resolved={"baseline_statistics": None}, node_id="validate", run_id="r1",
        )  # fmt: skip
    message = str(raised.value)
    assert "1 blocking anomaly" in message  # whatever `splits` lists, every split is checked
    assert "dataset (test): SERIES_FILLED_FRACTION_HIGH" in message
    assert "split 'test': 60.00% filled (120 filled and 80 real steps of 200" in message

    passed = run_component(
        COMPONENT, ValidateConfig(max_filled_fraction=0.6), inputs, root=root,
        resolved={"baseline_statistics": None}, node_id="validate", run_id="r2",
    )  # fmt: skip
    assert passed.summary["blocking"] == 0
    assert passed.outputs["anomalies"].properties["filled_fraction_scope"] == "splits"
