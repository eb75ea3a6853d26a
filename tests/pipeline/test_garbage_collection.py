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
