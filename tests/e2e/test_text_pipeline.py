"""Whole text pipelines on small generated data: the demo script, YAML + CLI, the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqline.components.ingest_text.synthetic import write_synthetic_reviews
from seqline.pipeline.cli import main
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from tests.e2e.demo_copy import copy_demo, demo_main

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

pytestmark = pytest.mark.slow


def test_demo_pushes_a_model_that_predicts_and_reruns_fully_cached(tmp_path, capsys, monkeypatch):
    examples = copy_demo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    demo = demo_main(examples)
    # The text part only: the series part is tests/e2e/test_series_pipeline.py's.
    argv = ["--reviews", "1500", "--part", "text"]

    assert demo(argv) == 0
    first = capsys.readouterr().out
    assert "model pushed as version 1" in first
    version_dir = tmp_path / "demo-output" / "serving" / "reviews" / "1"
    assert (version_dir / "saved_model.pb").exists()
    predictions = first.split("prediction from the pushed SavedModel:")[1].split("\n")
    labels = [line.split()[0] for line in predictions if line.strip()]
    assert labels == ["pos", "neg"]  # the demo's two unambiguous sample reviews

    assert demo(argv) == 0
    second = capsys.readouterr().out
    statuses = [
        line.split()[1]
        for line in second.splitlines()
        if line.split()
        and line.split()[0] in ("ingest_text", "transform", "train", "evaluate", "push")
    ]
    assert statuses == ["CACHED"] * 5
    assert "(running)" not in second
    assert not (tmp_path / "demo-output" / "serving" / "reviews" / "2").exists()


CACHED_RUN_IMPORTS = """
import json, sys
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.runner import run_pipeline
result = run_pipeline(load_pipeline(sys.argv[1]))
print(json.dumps({"statuses": [n.status for n in result.nodes],
                  "heavy": [m for m in ("tensorflow", "apache_beam", "tensorflow_transform")
                            if m in sys.modules]}))
"""


def test_multiclass_yaml_pipeline_through_the_cli(tmp_path, capsys):
    labels = ["sports", "science", "politics"]
    write_synthetic_reviews(
        tmp_path / "data" / "topics.jsonl", n=900, seed=3, fmt="jsonl", labels=labels
    )
    with open(tmp_path / "data" / "topics.jsonl", "a") as f:
        f.write('{"text": "", "label": "sports"}\n')  # rejected: empty_text
        f.write('{"text": "a story", "label": "weather"}\n')  # rejected: unknown_label
    config = tmp_path / "topics.yaml"
    config.write_text(
        "name: topics\nkind: text\nroot: out/pipeline\n"
        "components:\n"
        "  ingest_text:\n"
        "    {source: data/topics.jsonl, format: jsonl, labels: [sports, science, politics]}\n"
        "  transform: {vocab_size: 500, max_tokens: 48}\n"
        "  train: {model: {embedding_dim: 16, layer: lstm, units: 16}, epochs: 3, batch_size: 32}\n"
        "  evaluate: {thresholds: {accuracy: {lower: 0.5}}, beat_baseline: [accuracy]}\n"
        "  push: {serving_root: out/serving, model_name: topics}\n"
    )
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert "SUCCEEDED" in out
    root = tmp_path / "out" / "pipeline"
    store = MetadataStore(default_metadata_url(str(root)))
    run_id = store.runs()[0]["run_id"]
    executions = {e.node_id: e for e in store.executions(run_id)}
    assert executions["ingest_text"].summary["rejected"] == 2
    assert executions["ingest_text"].summary["input"] == 902
    pushed = [a for _, a in store.artifacts_of(executions["push"].id, "output")][0]
    assert pushed.properties["pushed"] is True
    assert (tmp_path / "out" / "serving" / "topics" / "1" / "saved_model.pb").exists()

    assert main(["show", "latest", "--config", str(config)]) == 0
    details = capsys.readouterr().out
    assert "accuracy" in details and "pushed as version 1" in details

    cached = subprocess.run(
        [sys.executable, "-c", CACHED_RUN_IMPORTS, str(config)],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    figures = json.loads(cached.stdout.strip().splitlines()[-1])
    assert figures["statuses"] == ["CACHED"] * len(figures["statuses"])
    assert figures["heavy"] == []  # a fully cached run never imports TensorFlow, Beam or TFT
