"""The series pipeline end to end on small generated series: the demo's series part (pushed,
forecast), a second run fully cached, and `seqline forecast` on the pushed model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.demo_copy import copy_demo, demo_main

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
NODES = (
    "ingest_series",
    "statistics",
    "schema",
    "validate",
    "transform",
    "train",
    "evaluate",
    "infra_validate",
    "push",
)

pytestmark = pytest.mark.slow

# demo.py --part series in a fresh process, its pipeline code untouched, without the forecast
# it prints after the run (that forecast loads the pushed model with TensorFlow).
RERUN_WITHOUT_FORECAST = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("demo", sys.argv[1])
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)
demo.forecast_with_pushed_model = lambda *args, **kwargs: []
sys.exit(demo.main(["--part", "series"]))
"""


def _statuses(stdout: str) -> list[str]:
    return [
        line.split()[1]
        for line in stdout.splitlines()
        if len(line.split()) > 1 and line.split()[0] in NODES
    ]


def test_series_demo_pushes_a_forecaster_and_reruns_fully_cached(tmp_path, capsys, monkeypatch):
    examples = copy_demo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    demo = demo_main(examples)

    assert demo(["--part", "series"]) == 0
    first = capsys.readouterr().out
    assert _statuses(first) == ["COMPLETE"] * len(NODES)
    assert "forecaster pushed as version 1" in first
    version_dir = tmp_path / "demo-output" / "serving" / "series" / "1"
    assert (version_dir / "saved_model.pb").exists()
    forecast_line = first.split("forecast:")[-1].splitlines()[0]
    forecast = [float(v) for v in forecast_line.split(",")]
    last = [float(v) for v in first.split("last values:")[1].splitlines()[0].split(",")]
    # 12 steps in original units near the series' level (10 + trend + a unit-amplitude season).
    assert len(forecast) == 12 and all(abs(v - last[-1]) < 5 for v in forecast)

    # The blessing compared the model with the naive forecasts on the same windows.
    root = tmp_path / "demo-output" / "series-pipeline"
    (blessing_dir,) = (root / "evaluate" / "blessing").iterdir()
    metrics = json.loads((blessing_dir / "metrics.json").read_text())["targets"]["value"]
    assert set(metrics) == {"candidate", "persistence", "seasonal_naive", "moving_average"}
    assert set(metrics["candidate"]["per_series"]) == {"s0", "s1"}
    descriptor = json.loads((blessing_dir / "artifact.json").read_text())
    assert descriptor["type"] == "Blessing" and descriptor["properties"]["blessed"] is True

    # The rerun is a fresh process, as a user's is: fingerprints must not depend on anything
    # of the first run's process (its objects, hash seed, imports). It runs the demo's main()
    # with the final forecast left out: that forecast (checked above) is not what the rerun
    # tests, and its TensorFlow import was ~6 s of the child's ~7 s.
    cmd = [sys.executable, "-c", RERUN_WITHOUT_FORECAST, str(examples / "demo.py")]
    second = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _statuses(second.stdout) == ["CACHED"] * len(NODES)
    assert not (tmp_path / "demo-output" / "serving" / "series" / "2").exists()

    # `seqline forecast` on the pushed model: 7 steps, recursive beyond the 3-step horizon.
    # The serving CLI's own entry point (main(argv), what `python -m seqline.serving.cli` runs).
    from seqline.serving.cli import main as serving_main

    rows = [line.split(",") for line in (tmp_path / "demo-output" / "data" / "series.csv")
            .read_text().splitlines()[1:]]  # fmt: skip
    history = [[float(r[2]), float(r[3])] for r in rows if r[1] == "s1"][-24:]
    future = [[history[-1][1]]] * 7
    assert serving_main(
        ["forecast", "--saved-model", str(version_dir), "--history", json.dumps(history),
         "--steps", "7", "--series-id", "s1", "--future-covariates", json.dumps(future)]
    ) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 7 and len(printed["forecast"]) == 7
    assert np.isfinite(printed["forecast"]).all()
