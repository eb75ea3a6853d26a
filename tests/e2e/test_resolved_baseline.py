"""The issue's A/B/A case on the real text pipeline: the last blessed model is a resolved input
of evaluate, so re-running config A after B re-evaluates A against B's model (pushed as v2)."""

from __future__ import annotations

import pytest

from seqline.components.ingest_text.synthetic import write_synthetic_reviews
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.runner import run_pipeline

pytestmark = pytest.mark.slow

CONFIG = """
name: abtest
kind: text
root: out/pipeline
components:
  ingest_text: {source: data/reviews.csv, labels: [neg, pos]}
  transform: {vocab_size: 300, max_tokens: 32}
  train: {model: {embedding_dim: 8, layer: gru, units: UNITS}, epochs: 1, batch_size: 64}
  evaluate: {thresholds: {accuracy: {lower: 0.0}}}
  push: {serving_root: out/serving, model_name: reviews}
"""


def _pipeline(tmp_path, units):
    path = tmp_path / f"units{units}.yaml"
    path.write_text(CONFIG.replace("UNITS", str(units)))
    return load_pipeline(path)


def test_config_a_after_b_is_evaluated_against_b(tmp_path):
    write_synthetic_reviews(tmp_path / "data" / "reviews.csv", 300, seed=11)
    a, b = _pipeline(tmp_path, 8), _pipeline(tmp_path, 12)
    if not a.node("evaluate").component.resolved:
        pytest.skip(
            "evaluate does not declare its baseline_model resolver yet: it arrives with the "
            "typed components of the `contract` branch (issue 9, item 3)"
        )
    first = run_pipeline(a)
    assert first.node("push").outputs["pushed_model"].properties["version"] == 1
    second = run_pipeline(b)
    assert second.node("push").outputs["pushed_model"].properties["version"] == 2

    third = run_pipeline(a)
    status = {n.node_id: n.status for n in third.nodes}
    assert status["train"] == "CACHED"
    assert status["evaluate"] == "COMPLETE"
    blessing = third.node("evaluate").outputs["blessing"].properties
    assert blessing["baseline_model_uri"] == second.node("train").outputs["model"].uri
    assert blessing["baseline_model_version"] == 2
    assert third.node("push").outputs["pushed_model"].properties["version"] == 3
