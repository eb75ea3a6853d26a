"""Drift compares a span with the span before it, on the real components and runner: the data
part of the text pipeline (ingest_text -> statistics -> schema -> validate) over day folders,
run for one day at a time as a nightly schedule (and a backfill) would."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.components.ingest_text.synthetic import write_synthetic_reviews
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.dag import Pipeline
from seqline.pipeline.runner import RunResult, run_pipeline

pytestmark = pytest.mark.slow  # four runs of two Beam nodes

CONFIG = """
name: nightly_drift
kind: text
root: out/pipeline
parameters: {span: "2026-12-03"}
components:
  ingest_text:
    source: days/{YYYY}-{MM}-{DD}/*.csv
    spans: {span: "${span}"}
    labels: [neg, pos]
  validate: {splits: [train]}
  evaluate: {thresholds: {accuracy: {lower: 0.0}}}
  push: {serving_root: out/serving, model_name: reviews}
"""
DATA_NODES = ("ingest_text", "statistics", "schema", "validate")


def _data_pipeline(config: Path, span: str) -> Pipeline:
    full = load_pipeline(config, params={"span": span})
    return Pipeline(full.name, full.root, [full.node(n) for n in DATA_NODES])


def _anomalies(result: RunResult) -> dict:
    return dict(result.node("validate").outputs["anomalies"].properties)


def test_each_span_is_compared_with_the_accepted_span_before_it(tmp_path: Path) -> None:
    for day in ("2026-12-03", "2026-12-04", "2026-12-05"):
        # The same reviews each day: drift is measured, and stays below every threshold.
        write_synthetic_reviews(tmp_path / "days" / day / "reviews.csv", 200, seed=0)
    config = tmp_path / "nightly.yaml"
    config.write_text(CONFIG)

    first = run_pipeline(_data_pipeline(config, "2026-12-03"))
    assert _anomalies(first)["span"] == "2026-12-03"
    assert _anomalies(first)["baseline_span"] is None  # the first span has nothing before it

    # 12-04's data is late: 12-05 runs first and is compared with the last span before it.
    latest = run_pipeline(_data_pipeline(config, "2026-12-05"))
    found = _anomalies(latest)
    assert (found["span"], found["baseline_span"]) == ("2026-12-05", "2026-12-03")
    assert found["baseline"] == first.node("statistics").outputs["statistics"].uri
    summary = latest.node("validate").summary
    assert (summary["span"], summary["baseline_span"]) == ("2026-12-05", "2026-12-03")
    report = Path(latest.node("validate").outputs["anomalies"].uri, "report.txt").read_text()
    assert "span:       2026-12-05" in report
    assert f"baseline:   {found['baseline']} (span 2026-12-03)" in report

    # The backfill of 12-04 compares with 12-03, not with 12-05 (which ran more recently).
    backfill = run_pipeline(_data_pipeline(config, "2026-12-04"))
    assert _anomalies(backfill)["baseline_span"] == "2026-12-03"
    again = run_pipeline(_data_pipeline(config, "2026-12-04"))
    assert {n.status for n in again.nodes} == {"CACHED"}  # the resolved baseline is stable

    # 12-05 now has an accepted predecessor, 12-04: a new baseline, so validate reruns on the
    # same data. (schema reruns too: PreviousSchema takes the newest schema, now 12-04's.)
    rerun = run_pipeline(_data_pipeline(config, "2026-12-05"))
    statuses = {n.node_id: n.status for n in rerun.nodes}
    assert statuses["ingest_text"] == statuses["statistics"] == "CACHED"
    assert statuses["validate"] == "COMPLETE"
    assert _anomalies(rerun)["baseline_span"] == "2026-12-04"
