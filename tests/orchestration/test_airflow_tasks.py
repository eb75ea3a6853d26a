"""The python-mode Airflow task callable: which failures Airflow may retry (no DAG run)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("airflow.sdk", reason="needs seqline[airflow] (apache-airflow 3.3)")

from airflow.sdk.exceptions import AirflowFailException  # noqa: E402

from seqline.orchestration.airflow import run_node_task  # noqa: E402
from seqline.pipeline.errors import DataNotReady  # noqa: E402

SPAN_YAML = """
name: spans
kind: text
root: out
components:
  ingest_text:
    source: days/{YYYY}-{MM}-{DD}/*.csv
    spans: {span: "${span}"}
    labels: [neg, pos]
  evaluate: {beat_baseline: [accuracy]}
  push: {serving_root: serving}
orchestration: {date_param: span, defaults: {retries: 1}}
"""


def _run(config, ds):
    context = {"ds": ds, "dag": SimpleNamespace(dag_id="spans"), "run_id": f"manual__{ds}"}
    return run_node_task(str(config), "ingest_text", {}, "span", **context)


def test_a_span_not_landed_yet_is_retried_and_a_mistake_is_not(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text(SPAN_YAML)
    (tmp_path / "days" / "2026-01-01").mkdir(parents=True)  # the export has not written yet
    # Raised as it is (not AirflowFailException): Airflow retries it, as bash mode does.
    with pytest.raises(DataNotReady, match="span '2026-01-01' exists but"):
        _run(config, "2026-01-01")
    with pytest.raises(DataNotReady, match="span '2026-01-02' of source .* does not exist"):
        _run(config, "2026-01-02")
    # A config mistake fails the task at once: a retry cannot fix it.
    config.write_text(SPAN_YAML.replace("labels: [neg, pos]", "labels: [neg, pos]\n    x: 1"))
    with pytest.raises(AirflowFailException, match="unknown field"):
        _run(config, "2026-01-01")
