"""The series example configs build and validate (kind `series` from the entry point), and the
Python API wires the same DAG; nothing runs, so no data is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
ORDER = [
    "ingest_series",
    "statistics",
    "schema",
    "validate",
    "transform",
    "train",
    "evaluate",
    "infra_validate",
    "push",
]


@pytest.mark.parametrize(
    "config",
    [
        "series/univariate.yaml",
        "series/multivariate.yaml",
        "series/day_ahead.yaml",
        "series/day_ahead_temperature.yaml",
        "demo/series.yaml",
        "loans/pipeline.yaml",
    ],
)
def test_example_configs_build(config):
    pipeline = load_pipeline(REPO / "examples" / config)
    assert [node.node_id for node in pipeline.nodes] == ORDER
    evaluate = pipeline.node("evaluate")
    assert evaluate.component.name == "evaluate_series" and evaluate.config.thresholds
    assert pipeline.node("transform").component.name == "transform_series"
    assert pipeline.node("train").component.name == "train_series"
    statistics = pipeline.node("statistics").config
    assert (statistics.timestamp_feature, statistics.series_id_feature) == (
        "window_end",
        "series_id",
    )


def test_python_api_and_config_errors(tmp_path):
    from seqline.components.series_pipeline import series_pipeline

    common = {
        "ingest_series": {"source": "data.csv", "frequency": "1h"},
        "push": {"serving_root": "serving", "model_name": "m"},
    }
    pipeline = series_pipeline(
        "s",
        "runs",
        evaluate={"thresholds": {"mase": {"upper": 1}}},
        base_dir=str(tmp_path),
        **common,
    )
    assert pipeline.root == str(tmp_path / "runs")
    assert pipeline.node("ingest_series").config.source == str(tmp_path / "data.csv")
    assert pipeline.node("push").config.serving_root == str(tmp_path / "serving")
    with pytest.raises(ConfigError, match="components.train.forecaster.output: expected one of"):
        series_pipeline(
            "s",
            str(tmp_path),
            evaluate={"thresholds": {"mase": {"upper": 1}}},
            train={"forecaster": {"output": "recursive"}},
            **common,
        )
    with pytest.raises(ConfigError, match="thresholds: expected at least one threshold"):
        series_pipeline("s", str(tmp_path), evaluate={"season": 12}, **common)


def test_building_a_series_pipeline_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; from seqline.pipeline.config_file import load_pipeline; "
        f"load_pipeline({str(REPO / 'examples' / 'series' / 'multivariate.yaml')!r}); "
        "print([m for m in ('tensorflow', 'apache_beam', 'tensorflow_transform', 'keras') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
