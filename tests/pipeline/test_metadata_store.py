"""The metadata store's bookkeeping of re-published artifacts and of executions whose process
died: rows describe what is published now, and nothing stays RUNNING forever."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqline.pipeline import metadata
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.locking import ProcessOwner, RootBusyError
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.report import model_lineage
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy


@dataclass(frozen=True)
class PushConfig:
    serving_root: str = ""


def push_numbers(ctx: ExecutionContext) -> dict:
    """A push: the next free version under serving_root/numbers/ (as push does)."""
    base = Path(ctx.config.serving_root) / "numbers"
    base.mkdir(parents=True, exist_ok=True)
    version = max((int(p.name) for p in base.iterdir()), default=0) + 1
    (base / str(version)).mkdir()
    out = ctx.outputs["pushed_model"]
    out.properties.update(pushed=True, version=version, destination=str(base / str(version)))
    return {"version": version}


def _served_version_gone(outputs) -> list[str]:
    destination = outputs["pushed_model"].properties["destination"]
    return [] if os.path.isdir(destination) else [f"{destination} deleted"]


PUSH_NUMBERS = Component(
    name="push_numbers",
    inputs={"model": ArtifactType.MODEL},
    outputs={"pushed_model": ArtifactType.PUSHED_MODEL},
    config_type=PushConfig,
    executor=push_numbers,
    effects_gone=_served_version_gone,
)


def _pipeline(root: Path, serving: Path) -> Pipeline:
    return Pipeline(
        "toy",
        str(root),
        [
            Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig()),
            Node(
                toy.SUM_NUMBERS,
                toy.SumConfig(),
                {"examples": OutputRef("write_numbers", "examples")},
            ),
            Node(
                PUSH_NUMBERS,
                PushConfig(serving_root=str(serving)),
                {"model": OutputRef("sum_numbers", "model")},
            ),
        ],
    )


def test_a_node_published_again_under_its_fingerprint_updates_the_artifact_row(tmp_path):
    """A push re-run because its served version was deleted published version 3 in
    artifact.json, but the row kept version 1 and the old producer: `seqline lineage NAME 3`
    found no such push."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(_pipeline(root, serving))
    pushed_uri = first.node("push_numbers").outputs["pushed_model"].uri
    (serving / "numbers" / "2").mkdir()  # another pusher published version 2 ...
    (serving / "numbers" / "1").rmdir()  # ... and version 1 was deleted
    second = run_pipeline(_pipeline(root, serving))
    assert [n.status for n in second.nodes] == ["CACHED", "CACHED", "COMPLETE"]
    assert second.node("push_numbers").outputs["pushed_model"].uri == pushed_uri

    store = MetadataStore(default_metadata_url(str(root)))
    row = store.artifact_by_uri(pushed_uri)
    assert row is not None and row.properties["version"] == 3
    producer = store.execution(row.producer_execution_id)
    assert (producer.run_id, producer.status) == (second.run_id, "COMPLETE")
    assert row.created_at == second.node("push_numbers").outputs["pushed_model"].created
    lineage = model_lineage(store, "numbers", 3)
    assert f"pushed by run {second.run_id}" in lineage
    assert "push_numbers <- model" in lineage and "sum_numbers <- examples" in lineage

    # The earlier execution keeps its lineage: its output event still names the URI, and its
    # summary says what it did then.
    (earlier,) = [e for e in store.executions(first.run_id) if e.node_id == "push_numbers"]
    assert earlier.summary == {"version": 1}
    assert [(n, a.uri) for n, a in store.artifacts_of(earlier.id, "output")] == [
        ("pushed_model", pushed_uri)
    ]
    assert [n for n, _ in store.artifacts_of(earlier.id, "input")] == ["model"]
    # A cached execution still links to the row without taking it over.
    third = run_pipeline(_pipeline(root, serving))
    assert [n.status for n in third.nodes] == ["CACHED", "CACHED", "CACHED"]
    assert store.artifact_by_uri(pushed_uri).producer_execution_id == producer.id


def _dead_pid() -> int:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    return exited.pid


def _execution(conn, run_id: str, node_id: str, **owner) -> int:
    return conn.execute(
        metadata.EXECUTIONS.insert().values(
            run_id=run_id,
            node_id=node_id,
            component=node_id,
            fingerprint="f" * 20,
            status="RUNNING",
            started_at=time.time(),
            **owner,
        )
    ).inserted_primary_key[0]


def test_executions_left_running_by_dead_processes_are_swept_whatever_their_run(tmp_path):
    """An interrupted run was FAILED while its running node stayed RUNNING forever: only
    RUNNING runs were swept. A RUNNING execution a live process owns (an orchestrator's other
    task of the same run) must stay."""
    store = MetadataStore("sqlite:///" + str(tmp_path / "metadata.sqlite"))
    host, dead, me = socket.gethostname(), _dead_pid(), os.getpid()
    with store._engine.begin() as conn:
        for run_id, status, pid in [("finished", "FAILED", dead), ("live", "SUCCEEDED", me)]:
            conn.execute(
                metadata.RUNS.insert().values(
                    run_id=run_id,
                    pipeline_name="toy",
                    status=status,
                    started_at=time.time(),
                    host=host,
                    pid=pid,
                )
            )
        ids = {
            "dead": _execution(conn, "finished", "evaluate", host=host, pid=dead),
            "legacy_dead_run": _execution(conn, "finished", "train"),  # no owner: its run's
            "alive": _execution(conn, "live", "infra_validate", host=host, pid=me),
            "other_host": _execution(conn, "live", "push", host="another-host.example", pid=dead),
            "legacy_live_run": _execution(conn, "live", "train"),
        }
    store.start_run("next", "toy")
    status = {name: store.execution(i).status for name, i in ids.items()}
    assert status == {
        "dead": "CRASHED",
        "legacy_dead_run": "CRASHED",
        "alive": "RUNNING",
        "other_host": "RUNNING",
        "legacy_live_run": "RUNNING",
    }
    crashed = store.execution(ids["dead"])
    assert crashed.finished_at is not None and "ended before it finished" in crashed.error


def test_a_store_written_before_executions_had_owners_gets_the_columns(tmp_path):
    path = tmp_path / "metadata.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE runs (run_id VARCHAR(64) PRIMARY KEY, pipeline_name VARCHAR(200) NOT NULL,
            status VARCHAR(20) NOT NULL, started_at FLOAT NOT NULL, finished_at FLOAT,
            host VARCHAR(200), pid INTEGER, error TEXT);
        CREATE TABLE executions (id INTEGER PRIMARY KEY, run_id VARCHAR(64) NOT NULL,
            node_id VARCHAR(200) NOT NULL, component VARCHAR(200) NOT NULL,
            fingerprint VARCHAR(64) NOT NULL, status VARCHAR(20) NOT NULL,
            started_at FLOAT NOT NULL, finished_at FLOAT, summary TEXT, error TEXT);
        INSERT INTO runs VALUES ('old', 'toy', 'SUCCEEDED', 1.0, 2.0, 'h', 1, NULL);
        INSERT INTO executions VALUES (1, 'old', 'n', 'n', 'f', 'COMPLETE', 1.0, 2.0, '{}', NULL);
        """
    )
    old.close()
    store = MetadataStore("sqlite:///" + str(path))
    MetadataStore("sqlite:///" + str(path))  # a second opening finds them there
    assert [e.status for e in store.executions("old")] == ["COMPLETE"]
    one_node = Pipeline("toy", str(tmp_path), [Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig())])
    result = run_pipeline(one_node, metadata=store)
    with store._engine.connect() as conn:
        owners = conn.execute(
            metadata.sa.select(metadata.EXECUTIONS.c.host, metadata.EXECUTIONS.c.pid).where(
                metadata.EXECUTIONS.c.run_id == result.run_id
            )
        ).all()
    assert owners == [(socket.gethostname(), os.getpid())]


_ME = ProcessOwner.this_process()
_linux_only = pytest.mark.skipif(
    _ME.pidns is None or _ME.start is None,
    reason="PID namespaces and process start times are read from Linux /proc",
)


def _run(conn, run_id: str, status: str = "RUNNING", **owner) -> None:
    conn.execute(
        metadata.RUNS.insert().values(
            run_id=run_id, pipeline_name="toy", status=status, started_at=time.time(), **owner
        )
    )


@_linux_only
def test_a_stale_run_whose_pid_was_reused_is_swept_and_another_pid_namespace_is_not(tmp_path):
    """Judged by (host, pid) alone, a RUNNING run whose pid a later process reuses (a
    container's pipeline is often pid 1 again after a restart) stayed RUNNING forever, and one
    of another container sharing the hostname was judged by an unrelated pid of this one."""
    store = MetadataStore("sqlite:///" + str(tmp_path / "metadata.sqlite"))
    here = {"host": _ME.host, "pidns": _ME.pidns}
    dead = _dead_pid()
    with store._engine.begin() as conn:
        # This pid, this namespace, but the process that owned it started at another time.
        _run(conn, "reused", pid=_ME.pid, proc_start=f"{_ME.start}0", **here)
        _run(conn, "me", pid=_ME.pid, proc_start=_ME.start, **here)
        # Another container under this hostname: its pid means nothing here.
        _run(conn, "other_ns", host=_ME.host, pid=dead, pidns="1", proc_start="x/1")
        ids = {
            "reused": _execution(conn, "me", "train", pid=_ME.pid, proc_start="b/1", **here),
            "no_owner_of_reused_run": _execution(conn, "reused", "evaluate"),
            "me": _execution(conn, "me", "push", pid=_ME.pid, proc_start=_ME.start, **here),
            "other_ns": _execution(
                conn, "me", "transform", host=_ME.host, pid=dead, pidns="1", proc_start="x/1"
            ),
        }
    store.start_run("next", "toy")
    assert {r: store.run(r)["status"] for r in ("reused", "me", "other_ns")} == {
        "reused": "CRASHED",
        "me": "RUNNING",
        "other_ns": "RUNNING",
    }
    assert {name: store.execution(i).status for name, i in ids.items()} == {
        "reused": "CRASHED",
        "no_owner_of_reused_run": "CRASHED",
        "me": "RUNNING",
        "other_ns": "RUNNING",
    }
    # New rows record the process this way.
    assert {k: store.run("next")[k] for k in ("host", "pid", "pidns", "proc_start")} == {
        "host": _ME.host,
        "pid": _ME.pid,
        "pidns": _ME.pidns,
        "proc_start": _ME.start,
    }


def test_an_old_schema_store_is_upgraded_in_place_and_its_rows_judged_by_host_and_pid(tmp_path):
    """A store written before runs, executions and root_leases recorded the PID namespace and
    start time gets the columns when opened; its rows (NULL there) are judged as before."""
    path = tmp_path / "metadata.sqlite"
    host, dead, me = socket.gethostname(), _dead_pid(), os.getpid()
    old = sqlite3.connect(path)
    old.executescript(
        f"""
        CREATE TABLE runs (run_id VARCHAR(64) PRIMARY KEY, pipeline_name VARCHAR(200) NOT NULL,
            status VARCHAR(20) NOT NULL, started_at FLOAT NOT NULL, finished_at FLOAT,
            host VARCHAR(200), pid INTEGER, error TEXT);
        CREATE TABLE executions (id INTEGER PRIMARY KEY, run_id VARCHAR(64) NOT NULL,
            node_id VARCHAR(200) NOT NULL, component VARCHAR(200) NOT NULL,
            fingerprint VARCHAR(64) NOT NULL, status VARCHAR(20) NOT NULL,
            started_at FLOAT NOT NULL, finished_at FLOAT, summary TEXT, error TEXT,
            host VARCHAR(200), pid INTEGER);
        CREATE TABLE root_leases (root VARCHAR(1000) PRIMARY KEY, run_id VARCHAR(64) NOT NULL,
            pid INTEGER NOT NULL, host VARCHAR(200) NOT NULL, acquired_at FLOAT NOT NULL);
        INSERT INTO runs VALUES ('dead', 'toy', 'RUNNING', 1.0, NULL, '{host}', {dead}, NULL);
        INSERT INTO runs VALUES ('live', 'toy', 'RUNNING', 1.0, NULL, '{host}', {me}, NULL);
        INSERT INTO executions VALUES
            (1, 'live', 'n', 'n', 'f', 'RUNNING', 1.0, NULL, NULL, NULL, '{host}', {dead}),
            (2, 'live', 'm', 'm', 'f', 'RUNNING', 1.0, NULL, NULL, NULL, '{host}', {me});
        INSERT INTO root_leases VALUES ('gs://b/dead', 'dead', {dead}, '{host}', 1.0);
        INSERT INTO root_leases VALUES ('gs://b/live', 'live', {me}, '{host}', 1.0);
        """
    )
    old.close()
    store = MetadataStore("sqlite:///" + str(path))
    MetadataStore("sqlite:///" + str(path))  # a second opening finds them there
    inspector = metadata.sa.inspect(store._engine)
    for table in ("runs", "executions", "root_leases"):
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert {"pidns", "proc_start"} <= columns, table
    store.sweep_stale()
    assert [store.run(r)["status"] for r in ("dead", "live")] == ["CRASHED", "RUNNING"]
    assert [store.execution(i).status for i in (1, 2)] == ["CRASHED", "RUNNING"]
    store.acquire_root("gs://b/dead", "next")  # a dead holder's lease is taken over
    with pytest.raises(RootBusyError):
        store.acquire_root("gs://b/live", "next")
    with store._engine.connect() as conn:
        lease = conn.execute(
            metadata.sa.select(metadata.ROOT_LEASES).where(
                metadata.ROOT_LEASES.c.root == "gs://b/dead"
            )
        ).one()
    assert (lease.run_id, lease.pid, lease.pidns, lease.proc_start) == (
        "next",
        me,
        _ME.pidns,
        _ME.start,
    )


def test_an_old_store_this_user_may_not_alter_fails_naming_the_statements_to_run(tmp_path):
    """A store written before the owner columns, opened by a user that may not alter it (a
    read-only SQLite file here; a PostgreSQL role that does not own the tables alike), used
    to fail with "cannot connect"; it now says what the tables' owner must run once."""
    path = tmp_path / "metadata.sqlite"
    MetadataStore("sqlite:///" + str(path)).close()
    old = sqlite3.connect(path)  # as an older seqline left it: runs without the new columns
    old.executescript("ALTER TABLE runs DROP COLUMN pidns; ALTER TABLE runs DROP COLUMN proc_start")
    old.close()
    read_only = metadata.sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(metadata.MetadataError) as error:
        metadata._create_tables(read_only)
    message = str(error.value)
    assert "was written by an older seqline and needs 2 column(s) added once" in message
    assert "ALTER TABLE runs ADD COLUMN pidns" in message
    assert "ALTER TABLE runs ADD COLUMN proc_start" in message


def test_an_old_store_without_the_gc_table_that_may_not_be_written_names_the_statement(tmp_path):
    """A store of the release before `seqline gc` (no artifact_deletions table), opened by a
    user that may not create a table in it (a read-only SQLite file here; a PostgreSQL role
    without CREATE on the schema alike), failed with the database's bare error."""
    path = tmp_path / "metadata.sqlite"
    MetadataStore("sqlite:///" + str(path)).close()
    old = sqlite3.connect(path)  # as the previous release left it
    old.executescript("DROP TABLE artifact_deletions")
    old.close()
    read_only = metadata.sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(metadata.MetadataError) as error:
        metadata._create_tables(read_only)
    message = str(error.value)
    assert "was written by an older seqline and needs 1 table(s) created once" in message
    assert "(artifact_deletions), which this user may not do" in message
    assert "or have a DBA run: CREATE TABLE artifact_deletions (" in message

    store = MetadataStore("sqlite:///" + str(path))  # a user that may write it: created
    store.record_deletion("/r/a/b/c", "gc")
    assert list(store.deletions()) == ["/r/a/b/c"]
    store.close()


def test_a_file_url_root_is_local_for_the_default_store_as_for_storage(tmp_path):
    """storage/filesystem treats `file://` as local; the default store called it remote."""
    assert default_metadata_url(f"file://{tmp_path}/root") == default_metadata_url(
        str(tmp_path / "root")
    )
    with pytest.raises(metadata.MetadataError, match="is remote"):
        default_metadata_url("gs://bucket/root")
