"""`seqline run` raises the collector's thresholds before it runs nodes (the process then holds
TensorFlow-sized heaps)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from seqline.pipeline import cli, runner
from seqline.pipeline.garbage_collection import THRESHOLDS

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
