"""The metadata store on a real PostgreSQL server (SEQLINE_TEST_DATABASE_URL).

.ci/run starts one with scripts/start_test_postgres.sh; without it these tests are skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid

import pytest
import sqlalchemy as sa

from seqline.pipeline import metadata
from seqline.pipeline.errors import MetadataError
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


def _create_store_with_64_character_run_ids(schema: str) -> None:
    """The tables of own_schema as an older seqline created them: run-id columns VARCHAR(64)
    (executions.run_id a foreign key of runs.run_id), and a run 'old' with one execution."""
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
    assert _run_id_lengths(schema) == {"runs": 64, "executions": 64, "root_leases": 64}


def test_a_store_created_with_64_character_run_ids_is_widened_when_opened(tmp_path, own_schema):
    """A store an older seqline created, run-id columns VARCHAR(64) (executions.run_id a
    foreign key of runs.run_id), is widened when opened; its rows stay, longer ids fit."""
    _create_store_with_64_character_run_ids(own_schema)
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


_WIDENINGS = [
    f"ALTER TABLE {table} ALTER COLUMN run_id TYPE VARCHAR({RUN_ID_MAX_LENGTH})"
    for table in ("runs", "executions", "root_leases")
]


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == metadata.__name__ and r.levelno == logging.WARNING
    ]


def _assert_one_widening_warning(caplog, *says: str) -> str:
    """The store logged exactly one warning: it says each of `says` and names the ALTERs.
    Returns it."""
    [warning] = _warnings(caplog)
    for text in (*says, "; ".join(_WIDENINGS)):
        assert text in warning
    return warning


def _refuses_longer_run_ids_naming_the_width(store: MetadataStore) -> None:
    """A run id longer than the store's 64-character columns is refused with what to do, not
    PostgreSQL's "value too long for type character varying(64)"; a short one is recorded."""
    with pytest.raises(MetadataError) as error:
        store.start_run(LONGEST_RUN_ID, "toy")
    message = str(error.value)
    assert f"has {len(LONGEST_RUN_ID)} characters" in message
    assert "holds at most 64 in runs.run_id" in message
    assert "have a DBA (the tables' owner) run: " + "; ".join(_WIDENINGS) in message
    assert "value too long" not in message
    with pytest.raises(MetadataError, match="holds at most 64 in root_leases.run_id"):
        store.acquire_root("gs://bucket/root", LONGEST_RUN_ID)
    store.start_run("short", "toy")
    store.acquire_root("gs://bucket/root", "short")
    assert store.run("short")["status"] == "RUNNING"


@pytest.fixture
def other_role(own_schema):
    """A PostgreSQL role that does not own own_schema's tables but may read and write them
    (USAGE on the schema, SELECT/INSERT/UPDATE/DELETE on its tables and USAGE on its
    sequences, granted by grant_all()), as an application usually runs; dropped after the
    test. Yields (its URL, grant_all)."""
    role = f"seqline_test_role_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    engine = sa.create_engine(URL)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        pytest.skip(f"the test database's user may not create roles: {exc.orig}")

    def grant_all() -> None:
        with engine.begin() as conn:
            for statement in (
                f"GRANT USAGE ON SCHEMA {own_schema} TO {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {own_schema} "
                f"TO {role}",
                f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {own_schema} TO {role}",
            ):
                conn.execute(sa.text(statement))

    url = sa.engine.make_url(URL).set(username=role, password=password)
    try:
        yield url.render_as_string(hide_password=False), grant_all
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {own_schema} CASCADE"))  # its grants with it
            conn.execute(sa.text(f"CREATE SCHEMA {own_schema}"))  # for own_schema to drop
            conn.execute(sa.text(f"DROP ROLE {role}"))
        engine.dispose()


def test_a_user_that_may_not_widen_the_run_id_columns_still_opens_the_store(
    tmp_path, own_schema, other_role, caplog
):
    """A role that reads and writes the tables but does not own them (the usual production
    setup) could not open a store created with VARCHAR(64) run-id columns at all, not even
    for `seqline runs`, because it may not widen them. It now opens it with a warning, once
    per process, naming what a DBA must run; only a run id longer than 64 is refused."""
    url, grant_all = other_role
    _create_store_with_64_character_run_ids(own_schema)
    engine = sa.create_engine(URL)
    try:
        metadata._META.create_all(engine)  # and the tables it had besides, as it made them
    finally:
        engine.dispose()
    grant_all()
    caplog.set_level(logging.WARNING, logger=metadata.__name__)
    store = MetadataStore(url)
    try:
        assert [r["run_id"] for r in store.runs()] == ["old"]
        warning = _assert_one_widening_warning(
            caplog,
            "could not widen the run-id columns of runs, executions, root_leases",
            "must be owner of table runs",
            "this user may not alter the tables; the tables' owner may",
        )
        assert ":***@" in warning and url.split(":")[2].split("@")[0] not in warning
        MetadataStore(url).close()
        assert len(_warnings(caplog)) == 1  # once per process and store
        assert _run_id_lengths(own_schema) == {"runs": 64, "executions": 64, "root_leases": 64}
        _refuses_longer_run_ids_naming_the_width(store)

        MetadataStore(URL).close()  # the tables' owner opens it: widened
        assert _run_id_lengths(own_schema) == dict.fromkeys(
            ("runs", "executions", "root_leases"), RUN_ID_MAX_LENGTH
        )
        store.start_run(LONGEST_RUN_ID, "toy")  # the open store sees it widened
        store.acquire_root("gs://bucket/other", LONGEST_RUN_ID)
    finally:
        store.close()


def test_a_view_on_a_run_id_column_leaves_it_narrow_instead_of_failing_every_open(
    own_schema, caplog
):
    """A view on runs (a dashboard's) made PostgreSQL refuse the widening ("cannot alter type
    of a column used by a view or rule"), and with it every opening of the store."""
    _create_store_with_64_character_run_ids(own_schema)
    engine = sa.create_engine(URL)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE VIEW dash AS SELECT run_id, status FROM runs"))
    finally:
        engine.dispose()
    caplog.set_level(logging.WARNING, logger=metadata.__name__)
    store = MetadataStore(URL)
    try:
        _assert_one_widening_warning(
            caplog,
            "0A000 cannot alter type of a column used by a view or rule",
            "a view or rule uses the column; drop it, widen the column",
        )
        assert _run_id_lengths(own_schema) == {
            "dash": 64,
            "runs": 64,
            "executions": 64,
            "root_leases": 64,
        }
        assert [e.status for e in store.executions("old")] == ["COMPLETE"]
        _refuses_longer_run_ids_naming_the_width(store)
    finally:
        store.close()


def test_a_session_holding_a_run_id_table_does_not_hang_the_opening(
    own_schema, monkeypatch, caplog
):
    """A session idle in a transaction that read runs (a psql shell, a BI tool) made the
    widening's ALTER wait for ever, and every other opener of the store behind it. The ALTER
    now gives up after lock_timeout, and the store opens with its columns as they were."""
    _create_store_with_64_character_run_ids(own_schema)
    monkeypatch.setattr(metadata, "_UPGRADE_LOCK_TIMEOUT_MS", 100)
    engine = sa.create_engine(URL)
    caplog.set_level(logging.WARNING, logger=metadata.__name__)
    try:
        with engine.connect() as blocker, blocker.begin():
            # Only so that the old code, which waits for ever, ends (and fails the test).
            blocker.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = '60s'"))
            assert blocker.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
            store = MetadataStore(URL)
            try:
                _assert_one_widening_warning(
                    caplog,
                    "55P03 canceling statement due to lock timeout",
                    "another session held a lock on a table for more than 0.1 s",
                )
                assert [r["run_id"] for r in store.runs()] == ["old"]
            finally:
                store.close()
            assert _run_id_lengths(own_schema) == {
                "runs": 64,
                "executions": 64,
                "root_leases": 64,
            }
        MetadataStore(URL).close()  # the lock released, the next opening widens them
        assert _run_id_lengths(own_schema) == dict.fromkeys(
            ("runs", "executions", "root_leases"), RUN_ID_MAX_LENGTH
        )
    finally:
        engine.dispose()


def test_a_user_that_may_not_create_the_gc_table_is_told_what_to_run(own_schema, other_role):
    """A store of the release before `seqline gc` lacks its artifact_deletions table, and a role
    that may use the tables but not create one in their schema (the usual production setup)
    failed every opening with PostgreSQL's bare "permission denied for schema"."""
    url, grant_all = other_role
    engine = sa.create_engine(URL)
    try:
        tables = [t for name, t in metadata._META.tables.items() if name != "artifact_deletions"]
        metadata._META.create_all(engine, tables=tables)  # as the owner's older seqline made it
    finally:
        engine.dispose()
    grant_all()
    with pytest.raises(MetadataError) as error:
        MetadataStore(url)
    message = str(error.value)
    assert "written by an older seqline and needs 1 table(s) created once (artifact_deletions)" in (
        message
    )
    assert "permission denied" in message and ":***@" in message
    assert "open it once as the tables' owner" in message
    assert "CREATE TABLE artifact_deletions" in message

    MetadataStore(URL).close()  # the owner opens it: created
    grant_all()
    store = MetadataStore(url)
    try:
        assert store.deletions() == {}
    finally:
        store.close()


def test_a_role_granted_its_tables_before_gc_came_shows_runs_and_gc_deletes_nothing(
    tmp_path, own_schema, other_role, capsys, caplog
):
    """The owner's upgrade creates artifact_deletions; a role granted the tables before that
    (GRANT ... ON ALL TABLES covers only tables that exist) may not use it. `seqline show` then
    failed altogether, and gc failed at its first folder, after removing its artifact.json."""
    from seqline.pipeline.cli import main
    from tests.pipeline.test_retention import full_pipeline, tree

    url, grant_all = other_role
    engine = sa.create_engine(URL)
    try:
        tables = [t for name, t in metadata._META.tables.items() if name != "artifact_deletions"]
        metadata._META.create_all(engine, tables=tables)  # the release before gc
    finally:
        engine.dispose()
    grant_all()
    MetadataStore(URL).close()  # the owner opens it with this release: the table is created
    root = tmp_path / "root"
    runs = [
        run_pipeline(
            dataclasses.replace(full_pipeline(root, tmp_path / "serving", q, q), metadata_url=url)
        )
        for q in (1, 2, 3)
    ]
    before = tree(root)

    caplog.set_level(logging.WARNING, logger=metadata.__name__)
    assert main(["show", runs[0].run_id, "--metadata-url", url]) == 0
    assert runs[0].node("train").outputs["model"].uri in capsys.readouterr().out
    [warning] = _warnings(caplog)
    assert "cannot read which artifacts seqline gc deleted" in warning

    assert main(["gc", "--root", str(root), "--metadata-url", url, "--keep-runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "which this user may not write" in err and "nothing was deleted" in err
    role = sa.engine.make_url(url).username
    assert f"GRANT SELECT, INSERT, DELETE ON artifact_deletions TO {role}" in err
    assert tree(root) == before

    grant_all()
    assert main(["gc", "--root", str(root), "--metadata-url", url, "--keep-runs", "1"]) == 0
    assert not os.path.exists(runs[0].node("train").outputs["model"].uri)
