"""Warm start through the real runner on nightly spans: the second night's train starts from
the first night's blessed (and pushed) model, and rerunning that night stays fully cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.components.ingest_text.synthetic import write_synthetic_reviews
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.runner import run_pipeline

pytestmark = pytest.mark.slow  # two whole text pipelines and a cached one

CONFIG = """
name: nightly_warm
kind: text
root: out/pipeline
parameters: {span: "2026-12-03"}
components:
  ingest_text:
    source: days/{YYYY}-{MM}-{DD}/*.csv
    spans: {span: "${span}"}
    labels: [neg, pos]
  transform: {vocab_size: 300, max_tokens: 32}
  train:
    model: {embedding_dim: 8, layer: gru, units: 8}
    epochs: 1
    batch_size: 64
    warm_start: true
  evaluate: {thresholds: {accuracy: {lower: 0.0}}}
  push: {serving_root: out/serving, model_name: reviews}
"""


def test_the_next_span_starts_from_the_last_blessed_model(tmp_path: Path) -> None:
    for day in ("2026-12-03", "2026-12-04"):
        # The same reviews each night, so the TFT vocabulary (and its hash) is the same.
        write_synthetic_reviews(tmp_path / "days" / day / "reviews.csv", 300, seed=5)
    config = tmp_path / "nightly.yaml"
    config.write_text(CONFIG)

    first = run_pipeline(load_pipeline(config, params={"span": "2026-12-03"}))
    first_model = first.node("train").outputs["model"]
    assert first_model.properties["warm_started_from"] is None  # nothing blessed yet
    assert first.node("push").outputs["pushed_model"].properties["version"] == 1

    second = run_pipeline(load_pipeline(config, params={"span": "2026-12-04"}))
    model = second.node("train").outputs["model"]
    assert second.node("train").status == "COMPLETE"
    assert model.properties["warm_started_from"] == {
        "uri": first_model.uri,
        "fingerprint": first_model.fingerprint,
        "pushed_version": 1,
    }
    assert model.properties["warm_start_skipped"] is None

    # The second night's model is blessed now, but it was trained from these same examples:
    # the resolver still answers the first model, so nothing reruns.
    again = run_pipeline(load_pipeline(config, params={"span": "2026-12-04"}))
    assert {n.node_id: n.status for n in again.nodes if n.status != "CACHED"} == {}
