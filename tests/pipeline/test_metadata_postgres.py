"""The metadata store on a real PostgreSQL server (SEQLINE_TEST_DATABASE_URL).

.ci/run starts one with scripts/start_test_postgres.sh; without it these tests are skipped.
"""

from __future__ import annotations

import dataclasses
import os
import uuid

import pytest
import sqlalchemy as sa

from seqline.pipeline.execution import RUN_ID_MAX_LENGTH, check_run_id
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


# What orchestration/airflow.seqline_run_id makes of a scheduled Airflow run: the longest id
# check_run_id allows, from a DAG whose id is a little under 100 characters.
_SCHEDULED = "-scheduled__2026-12-07T000000_0000"
LONGEST_RUN_ID = "d" * (RUN_ID_MAX_LENGTH - len(_SCHEDULED)) + _SCHEDULED


@pytest.fixture
def own_schema():
    """A new PostgreSQL schema of this test, dropped after it: while the test runs, every
    PostgreSQL connection this process opens puts it first in its search_path, so the store the
    test opens (or creates by hand, as an older seqline left it) is its own and not the tables
    the other tests share. Yields its name."""
    schema = f"seqline_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def use_schema(dbapi_connection, _record) -> None:
        if not type(dbapi_connection).__module__.startswith("pg8000"):
            return
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET in a transaction ends with its rollback
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET SESSION search_path TO {schema}")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    # insert: before SQLAlchemy's first connect reads the connection's default schema.
    sa.event.listen(sa.pool.Pool, "connect", use_schema, insert=True)
    try:
        yield schema
    finally:
        sa.event.remove(sa.pool.Pool, "connect", use_schema)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def _records_a_run_of_the_longest_id(root, store: MetadataStore) -> None:
    """A run, its executions and a lease of a remote root recorded under LONGEST_RUN_ID."""
    pipeline = dataclasses.replace(make_pipeline(root), metadata_url=URL)
    result = run_pipeline(pipeline, run_id=check_run_id(LONGEST_RUN_ID), metadata=store)
    assert result.run_id == LONGEST_RUN_ID
    assert store.run(LONGEST_RUN_ID)["status"] == "SUCCEEDED"
    assert [e.status for e in store.executions(LONGEST_RUN_ID)] == ["COMPLETE", "COMPLETE"]
    store.acquire_root("gs://bucket/root", LONGEST_RUN_ID)
    [lease] = store.release_root("gs://bucket/root")
    assert lease.run_id == LONGEST_RUN_ID


def test_a_run_id_of_the_longest_length_check_run_id_allows_is_recorded(tmp_path, own_schema):
    """The run-id columns were VARCHAR(64), which PostgreSQL enforces: an Airflow run of a DAG
    whose id has 31 characters or more passed check_run_id and then failed at run start with
    "value too long for type character varying(64)"."""
    store = MetadataStore(URL)
    try:
        _records_a_run_of_the_longest_id(tmp_path / "root", store)
    finally:
        store.close()
    assert _run_id_lengths(own_schema) == dict.fromkeys(
        ("runs", "executions", "root_leases"), RUN_ID_MAX_LENGTH
    )


def _run_id_lengths(schema: str) -> dict[str, int]:
    engine = sa.create_engine(URL)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT table_name, character_maximum_length FROM information_schema.columns"
                    " WHERE table_schema = :schema AND column_name = 'run_id'"
                ),
                {"schema": schema},
            ).all()
    finally:
        engine.dispose()
    return dict(rows)


def test_a_store_created_with_64_character_run_ids_is_widened_when_opened(tmp_path, own_schema):
    """A store an older seqline created, run-id columns VARCHAR(64) (executions.run_id a
    foreign key of runs.run_id), is widened when opened; its rows stay, longer ids fit."""
    engine = sa.create_engine(URL)
    try:
        with engine.begin() as conn:
            for statement in (
                """CREATE TABLE runs (run_id VARCHAR(64) PRIMARY KEY,
                    pipeline_name VARCHAR(200) NOT NULL, status VARCHAR(20) NOT NULL,
                    started_at FLOAT NOT NULL, finished_at FLOAT, host VARCHAR(200),
                    pid INTEGER, error TEXT, pidns VARCHAR(32), proc_start VARCHAR(80))""",
                "CREATE INDEX ix_runs_pipeline_name ON runs (pipeline_name)",
                """CREATE TABLE executions (id SERIAL PRIMARY KEY,
                    run_id VARCHAR(64) NOT NULL REFERENCES runs (run_id),
                    node_id VARCHAR(200) NOT NULL, component VARCHAR(200) NOT NULL,
                    fingerprint VARCHAR(64) NOT NULL, status VARCHAR(20) NOT NULL,
                    started_at FLOAT NOT NULL, finished_at FLOAT, summary TEXT, error TEXT,
                    host VARCHAR(200), pid INTEGER, pidns VARCHAR(32), proc_start VARCHAR(80))""",
                "CREATE INDEX ix_executions_run_id ON executions (run_id)",
                "CREATE INDEX ix_executions_fingerprint ON executions (fingerprint)",
                """CREATE TABLE root_leases (root VARCHAR(1000) PRIMARY KEY,
                    run_id VARCHAR(64) NOT NULL, pid INTEGER NOT NULL, host VARCHAR(200) NOT NULL,
                    acquired_at FLOAT NOT NULL, pidns VARCHAR(32), proc_start VARCHAR(80))""",
                "INSERT INTO runs (run_id, pipeline_name, status, started_at, finished_at)"
                " VALUES ('old', 'toy', 'SUCCEEDED', 1.0, 2.0)",
                "INSERT INTO executions (run_id, node_id, component, fingerprint, status,"
                " started_at, finished_at, summary) VALUES"
                " ('old', 'n', 'n', 'f', 'COMPLETE', 1.0, 2.0, '{}')",
            ):
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert _run_id_lengths(own_schema) == {"runs": 64, "executions": 64, "root_leases": 64}

    store = MetadataStore(URL)
    MetadataStore(URL).close()  # a second opening finds them widened
    try:
        assert _run_id_lengths(own_schema) == dict.fromkeys(
            ("runs", "executions", "root_leases"), RUN_ID_MAX_LENGTH
        )
        assert [e.status for e in store.executions("old")] == ["COMPLETE"]
        _records_a_run_of_the_longest_id(tmp_path / "root", store)
    finally:
        store.close()
