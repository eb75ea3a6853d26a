"""The metadata store on a real PostgreSQL server (SEQLINE_TEST_DATABASE_URL).

.ci/run starts one with scripts/start_test_postgres.sh; without it these tests are skipped.
"""

from __future__ import annotations

import dataclasses
import os
import uuid

import pytest

from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

URL = os.environ.get("SEQLINE_TEST_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not URL,
    reason="no PostgreSQL server: set SEQLINE_TEST_DATABASE_URL "
    "(bash scripts/start_test_postgres.sh starts one and prints it)",
)


def test_runs_executions_and_lineage_are_recorded_in_postgresql(tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    pipeline = dataclasses.replace(make_pipeline(tmp_path / "root"), name=name, metadata_url=URL)
    first = run_pipeline(pipeline)
    second = run_pipeline(pipeline)
    assert [n.status for n in second.nodes] == ["CACHED", "CACHED"]

    store = MetadataStore(URL)
    try:
        runs = store.runs(pipeline_name=name)
        assert [r["run_id"] for r in runs] == [second.run_id, first.run_id]
        assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
        model_uri = first.node("sum_numbers").outputs["model"].uri
        model = store.artifact_by_uri(model_uri)
        assert model is not None and model.properties == {"total": 10}
        lineage = list(store.lineage(model.id))
        assert [(e.node_id, name_, a.type_name) for _, e, name_, a in lineage] == [
            ("sum_numbers", "examples", "Examples")
        ]
        assert not (tmp_path / "root" / "metadata.sqlite").exists()
    finally:
        store.close()


def _open_store_when_released(barrier, results) -> None:  # runs in a spawned process
    barrier.wait()
    try:
        MetadataStore(URL).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_store_at_once_all_succeed():
    """An orchestrator starts a run's first tasks together: each opens the store, and on a new
    database each creates the tables. Two concurrent CREATE TABLEs of one name fail on
    PostgreSQL (a duplicate key in pg_type), which used to fail all but one task."""
    import multiprocessing

    import sqlalchemy as sa

    from seqline.pipeline import metadata

    engine = sa.create_engine(URL)
    try:
        metadata._META.drop_all(engine)  # a new database (this file's tests run in one worker)
    finally:
        engine.dispose()
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(4), spawn.Queue()
    openers = [
        spawn.Process(target=_open_store_when_released, args=(barrier, results)) for _ in range(4)
    ]
    for process in openers:
        process.start()
    outcomes = [results.get(timeout=120) for _ in openers]
    for process in openers:
        process.join(30)
    assert outcomes == ["ok"] * 4
    store = MetadataStore(URL)
    try:
        assert store.runs(pipeline_name="nothing-yet") == []
    finally:
        store.close()
