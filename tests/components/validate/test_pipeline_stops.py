"""In the text pipeline, a blocking anomaly stops the run after validate: transform (and
everything after it) never executes, and the error names feature, expectation and value."""

from __future__ import annotations

import csv

import pytest

from seqline.components.text_pipeline import text_pipeline
from seqline.pipeline.errors import DataError
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.runner import run_pipeline


@pytest.mark.slow
def test_unknown_label_stops_the_pipeline_before_transform(tmp_path) -> None:
    source = tmp_path / "reviews.csv"
    with open(source, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(120):
            label = ("neg", "pos", "meh")[i % 3]  # "meh" is not in the curated schema
            writer.writerow([f"review {i} says the film was {label} " * (1 + i % 3), label])
    pipeline = text_pipeline(
        "stops",
        str(tmp_path / "root"),
        ingest_text={"source": str(source), "labels": ["neg", "pos", "meh"]},
        schema={"curated_schema": "builtin:text_classification"},
        evaluate={"thresholds": {"accuracy": {"lower": 0.5}}},
        push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
    )
    order = [node.node_id for node in pipeline.nodes]
    assert order.index("validate") < order.index("transform")
    assert pipeline.node("transform").inputs["schema"].node_id == "validate"

    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    with pytest.raises(DataError) as raised:
        run_pipeline(pipeline, metadata=store)
    message = str(raised.value)
    assert "feature 'label' (train): ENUM_TYPE_UNEXPECTED_STRING_VALUES" in message
    assert "['neg', 'pos']" in message and "'meh'" in message
    assert "stops before transform" in message

    run_id = store.runs()[0]["run_id"]
    statuses = {e.node_id: e.status for e in store.executions(run_id)}
    assert statuses == {
        "ingest_text": "COMPLETE",
        "statistics": "COMPLETE",
        "schema": "COMPLETE",
        "validate": "FAILED",
    }
    # The runner keeps the failed node's outputs, and the error says where.
    kept = tmp_path / "root" / "_failed" / run_id / "validate" / "anomalies" / "report.txt"
    assert kept.exists()
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in kept.read_text()
    assert str(kept.parent.parent) in message
    assert not (tmp_path / "root" / "transform").exists()
