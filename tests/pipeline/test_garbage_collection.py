"""`seqline run` raises the collector's thresholds before it runs nodes (the process then holds
TensorFlow-sized heaps), and `seqline serve` before TensorFlow's import and the models' load."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest

from seqline.pipeline import cli, runner
from seqline.serving.garbage_collection import THRESHOLDS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def default_thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_run_command_collects_less_often_while_nodes_run(default_thresholds, monkeypatch):
    seen = []

    def fake_run_pipeline(pipeline, **kwargs):
        seen.append(gc.get_threshold())
        raise SystemExit(0)  # stop before anything is printed or written

    monkeypatch.setattr(runner, "run_pipeline", fake_run_pipeline)
    with pytest.raises(SystemExit):
        cli.main(["run", str(REPO / "examples" / "demo" / "pipeline.yaml")])
    assert seen == [THRESHOLDS]
    assert THRESHOLDS[0] > 700  # rarer young collections than CPython's default


def test_serve_command_collects_less_often_before_loading_models(
    default_thresholds, monkeypatch, tmp_path
):
    from seqline.serving import cli as serving_cli
    from seqline.serving.server import server

    seen = []

    def fake_start_server(options):
        seen.append(gc.get_threshold())
        raise SystemExit(0)  # stop before any port opens

    monkeypatch.setattr(server, "start_server", fake_start_server)
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    with pytest.raises(SystemExit):
        serving_cli.main(["serve", "--model_name=m", f"--model_base_path={tmp_path}", "--port=0"])
    assert seen == [THRESHOLDS]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", THRESHOLDS), ("keep", (700, 10, 10)), ("1000, 15, 12", (1000, 15, 12))],
)
def test_the_thresholds_can_be_kept_or_chosen(default_thresholds, monkeypatch, value, expected):
    from seqline.serving.garbage_collection import collect_less_often

    monkeypatch.setenv("SEQLINE_GC_THRESHOLDS", value)
    collect_less_often()
    assert gc.get_threshold() == expected


@pytest.mark.parametrize("value", ["fast", "1,2", "-1,10,10", "1,2,3,4"])
def test_a_wrong_thresholds_variable_is_refused_naming_it(default_thresholds, monkeypatch, value):
    from seqline.serving.garbage_collection import collect_less_often

    monkeypatch.setenv("SEQLINE_GC_THRESHOLDS", value)
    with pytest.raises(ValueError, match="SEQLINE_GC_THRESHOLDS: expected 'keep' or three"):
        collect_less_often()
    assert gc.get_threshold() == (700, 10, 10)


def test_an_airflow_task_collects_less_often(default_thresholds, tmp_path):
    pytest.importorskip("airflow.sdk", reason="needs seqline[airflow] (apache-airflow 3.3)")
    from types import SimpleNamespace

    from seqline.orchestration.airflow import run_node_task

    context = {"dag": SimpleNamespace(dag_id="d"), "run_id": "manual__2026-01-01"}
    with pytest.raises(Exception, match="no-such.yaml"):  # the config is read after
        run_node_task(str(tmp_path / "no-such.yaml"), "ingest_text", {}, None, **context)
    assert gc.get_threshold() == THRESHOLDS


@pytest.mark.parametrize("command", [["run", "pipeline.yaml"], ["serve", "--model_name=m"]])
def test_the_commands_report_a_wrong_thresholds_variable_in_one_line(command, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SEQLINE_GC_THRESHOLDS": "fast"}
    argv = [*command, f"--model_base_path={tmp_path}"] if command[0] == "serve" else command
    done = subprocess.run(
        [sys.executable, "-m", "seqline.pipeline.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO / "examples" / "demo",
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "SEQLINE_GC_THRESHOLDS: expected 'keep'" in done.stderr
    assert "Traceback" not in done.stderr
