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
from seqline.pipeline.artifacts import Examples, ExampleStatistics, GridSteps, SeriesWindows
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.fingerprint import config_json
from seqline.pipeline.harness import run_component
from tests.components.statistics.helpers import direct_statistics, run_statistics, write_examples

# What ingest_series counted for 400 hourly rows declared 15min (the reported pipeline).
OVERFILLED = GridSteps(filled=1191, real=400)
A_FEW_GAPS = GridSteps(filled=3, real=1000)


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

    # Series examples whose producer recorded no counts: the gate says it could not run.
    del statistics.properties["grid_steps"]
    unchecked = run_component(
        COMPONENT, ValidateConfig(), inputs, root=root,
        resolved={"baseline_statistics": None}, node_id="validate", run_id="r3",
    )  # fmt: skip
    assert unchecked.summary["blocking"] == 0
    assert unchecked.outputs["anomalies"].properties["filled_fraction_checked"] is False
