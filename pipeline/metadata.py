"""The metadata store: runs, executions, artifacts and lineage in a real SQL database.

SQLite file `{pipeline_root}/metadata.sqlite` by default; any SQLAlchemy URL otherwise, e.g.
`postgresql+pg8000://user:pw@host/db` (install the `postgres` extra). ml-metadata cannot be
installed beside TF 2.21, so this is seqline's own small schema:

    runs(run_id, pipeline_name, status, started_at, finished_at, host, pid, error)
    executions(id, run_id, node_id, component, fingerprint, status, started_at, finished_at,
               summary, error)                     status: RUNNING | COMPLETE | CACHED | FAILED
    artifacts(id, uri, type_name, fingerprint, node_id, output, properties, created_at,
              producer_execution_id)
    events(execution_id, artifact_id, kind, name)  kind: input | output
    root_leases(root, run_id, pid, host, acquired_at)   a run holding a remote pipeline root

Lineage follows events: an artifact's producer execution, that execution's inputs, and so on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from seqline.pipeline.errors import MetadataError
from seqline.pipeline.locking import RootBusyError, pid_alive

_META = sa.MetaData()
_R = TypeVar("_R")
_MISSING = object()  # find_artifacts: a property that is absent never equals a wanted value

RUNS = sa.Table(
    "runs",
    _META,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("pipeline_name", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),
    sa.Column("error", sa.Text),
)
EXECUTIONS = sa.Table(
    "executions",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("component", sa.String(200), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("summary", sa.Text),
    sa.Column("error", sa.Text),
)
ARTIFACTS = sa.Table(
    "artifacts",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uri", sa.String(1000), nullable=False, unique=True),
    sa.Column("type_name", sa.String(100), nullable=False, index=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("output", sa.String(200), nullable=False),
    sa.Column("properties", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("producer_execution_id", sa.Integer, sa.ForeignKey("executions.id")),
)
EVENTS = sa.Table(
    "events",
    _META,
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Index("events_by_artifact", "artifact_id", "kind"),
    sa.Index("events_by_execution", "execution_id", "kind"),
)


ROOT_LEASES = sa.Table(
    "root_leases",
    _META,
    sa.Column("root", sa.String(1000), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
)


def default_metadata_url(pipeline_root: str) -> str:
    """`sqlite:///{pipeline_root}/metadata.sqlite` (the root must be a local path)."""
    if "://" in pipeline_root:
        raise MetadataError(
            f"pipeline root {pipeline_root!r} is remote, so the default SQLite metadata file "
            "cannot live under it; set `metadata_url` (e.g. postgresql+pg8000://user@host/db)"
        )
    return "sqlite:///" + os.path.abspath(os.path.join(pipeline_root, "metadata.sqlite"))


@dataclass
class ExecutionRecord:
    id: int
    run_id: str
    node_id: str
    component: str
    fingerprint: str
    status: str
    started_at: float
    finished_at: float | None
    summary: dict[str, Any]
    error: str | None


@dataclass
class ArtifactRecord:
    id: int
    uri: str
    type_name: str
    fingerprint: str
    node_id: str
    output: str
    properties: dict[str, Any]
    created_at: float
    producer_execution_id: int | None


class MetadataStore:
    """Thin typed access to the metadata database. Create with `MetadataStore(url)`.

    Safe to share between threads: every method checks a connection out of SQLAlchemy's pool
    for its own transaction (file SQLite and PostgreSQL alike)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            os.makedirs(os.path.dirname(url[len("sqlite:///") :]) or ".", exist_ok=True)
        try:
            # Nodes of one run write from their own threads (pipeline/scheduling.py), and other
            # runs from their processes: SQLite makes a writer wait for the lock, up to this
            # long (Python's default is 5 s, short on a loaded machine).
            connect_args = {"timeout": 60} if url.startswith("sqlite") else {}
            self._engine = sa.create_engine(url, future=True, connect_args=connect_args)
            _create_tables(self._engine)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
            raise MetadataError(
                f"cannot open metadata store {url!r}: {exc}. Expected a SQLAlchemy URL such as "
                "sqlite:////abs/path/metadata.sqlite or postgresql+pg8000://user:pw@host/db "
                "(pip install 'seqline[postgres]')"
            ) from exc
        except sa.exc.OperationalError as exc:
            raise MetadataError(f"cannot connect to metadata store {url!r}: {exc.orig}") from exc

    def close(self) -> None:
        self._engine.dispose()

    # -- writing -------------------------------------------------------------------------------

    def start_run(self, run_id: str, pipeline_name: str) -> None:
        """Records a new RUNNING run. Runs left RUNNING by a process on this host that no longer
        exists (killed, crashed) are marked CRASHED first."""
        host = socket.gethostname()
        with self._engine.begin() as conn:
            stale = conn.execute(
                sa.select(RUNS.c.run_id, RUNS.c.pid).where(
                    RUNS.c.status == "RUNNING", RUNS.c.host == host
                )
            ).all()
            for stale_id, pid in stale:
                if pid is not None and not pid_alive(pid):
                    conn.execute(
                        RUNS.update()
                        .where(RUNS.c.run_id == stale_id)
                        .values(status="CRASHED", error="process ended without finishing")
                    )
                    conn.execute(
                        EXECUTIONS.update()
                        .where(EXECUTIONS.c.run_id == stale_id, EXECUTIONS.c.status == "RUNNING")
                        .values(status="CRASHED")
                    )
            conn.execute(
                RUNS.insert().values(
                    run_id=run_id,
                    pipeline_name=pipeline_name,
                    status="RUNNING",
                    started_at=time.time(),
                    host=host,
                    pid=os.getpid(),
                )
            )

    def acquire_root(self, root: str, run_id: str) -> None:
        """Leases `root` to `run_id`; raises RootBusyError naming the holder if another live
        run holds it. A lease left by a dead process of this host is taken over."""
        host, pid = socket.gethostname(), os.getpid()
        for _attempt in range(2):
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        ROOT_LEASES.insert().values(
                            root=root, run_id=run_id, pid=pid, host=host, acquired_at=time.time()
                        )
                    )
                return
            except sa.exc.IntegrityError:
                with self._engine.begin() as conn:
                    holder = conn.execute(
                        sa.select(ROOT_LEASES).where(ROOT_LEASES.c.root == root)
                    ).first()
                    if holder is None:
                        continue  # released meanwhile
                    if holder.host == host and not pid_alive(holder.pid):
                        conn.execute(
                            ROOT_LEASES.delete().where(
                                ROOT_LEASES.c.root == root, ROOT_LEASES.c.run_id == holder.run_id
                            )
                        )
                        continue
                raise RootBusyError(
                    f"another run ({holder.run_id}, pid {holder.pid}, host {holder.host}) holds "
                    f"{root}; wait for it to finish (a remote root runs one pipeline run at a "
                    "time). If that process is dead on another host, release its lease with "
                    f"`seqline unlock {root} --metadata-url ...`"
                ) from None
        raise RootBusyError(f"could not lease {root}: it keeps changing hands; try again")

    def release_root(self, root: str, run_id: str | None = None) -> bool:
        """Ends the lease on `root` (only `run_id`'s, when given); True if there was one."""
        query = ROOT_LEASES.delete().where(ROOT_LEASES.c.root == root)
        if run_id is not None:
            query = query.where(ROOT_LEASES.c.run_id == run_id)
        with self._engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                RUNS.update()
                .where(RUNS.c.run_id == run_id)
                .values(status=status, finished_at=time.time(), error=error)
            )

    def start_execution(
        self,
        run_id: str,
        node_id: str,
        component: str,
        fingerprint: str,
        inputs: Mapping[str, int],
        status: str = "RUNNING",
    ) -> int:
        """Records an execution and its input events (input name -> artifact id)."""
        with self._engine.begin() as conn:
            return _insert_execution(conn, run_id, node_id, component, fingerprint, inputs, status)

    def finish_execution(
        self,
        execution_id: int,
        status: str,
        summary: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                EXECUTIONS.update()
                .where(EXECUTIONS.c.id == execution_id)
                .values(
                    status=status,
                    finished_at=time.time(),
                    summary=json.dumps(summary or {}, default=str),
                    error=error,
                )
            )

    def record_output(
        self,
        execution_id: int,
        name: str,
        *,
        uri: str,
        type_name: str,
        fingerprint: str,
        node_id: str,
        properties: Mapping[str, Any],
        created_at: float,
    ) -> int:
        """Registers an output artifact (once per URI; a cached execution links to the existing
        row, which keeps its original producer) and the output event. Returns the artifact id.
        Two runs registering the same artifact at once (concurrent runs on one root) both get
        the one row."""
        row = {
            "uri": uri,
            "type_name": type_name,
            "fingerprint": fingerprint,
            "node_id": node_id,
            "output": name,
            "properties": json.dumps(properties, default=str),
            "created_at": created_at,
            "producer_execution_id": execution_id,
        }
        try:
            with self._engine.begin() as conn:
                return _link_output(conn, execution_id, name, uri, row)
        except sa.exc.IntegrityError:
            # Another run registered the same artifact between our select and insert.
            with self._engine.begin() as conn:
                return _link_output(conn, execution_id, name, uri, None)

    def record_cached_execution(
        self,
        run_id: str,
        node_id: str,
        component: str,
        fingerprint: str,
        inputs: Mapping[str, int],
        outputs: Mapping[str, Any],
    ) -> dict[str, int]:
        """Records a CACHED execution with its input and output events in one transaction (one
        commit per node keeps a fully cached run fast); `outputs` maps output names to
        artifacts (uri, type_name, fingerprint, properties, created). Returns uri -> id."""
        ids: dict[str, int] = {}
        for attempt in range(2):
            try:
                with self._engine.begin() as conn:
                    execution_id = _insert_execution(
                        conn, run_id, node_id, component, fingerprint, inputs, "CACHED"
                    )
                    for name, artifact in outputs.items():
                        row = _artifact_row(artifact, node_id, name, execution_id)
                        ids[artifact.uri] = _link_output(
                            conn, execution_id, name, artifact.uri, row
                        )
                    conn.execute(
                        EXECUTIONS.update()
                        .where(EXECUTIONS.c.id == execution_id)
                        .values(finished_at=time.time(), summary=json.dumps({"cached": True}))
                    )
                return ids
            except sa.exc.IntegrityError:
                if attempt:
                    raise
        return ids

    # -- reading -------------------------------------------------------------------------------

    def runs(self, pipeline_name: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first: run_id, pipeline_name, status, started_at, finished_at, and counts of
        executions by status."""
        query = sa.select(RUNS).order_by(RUNS.c.started_at.desc()).limit(limit)
        if pipeline_name:
            query = query.where(RUNS.c.pipeline_name == pipeline_name)
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
            for row in rows:
                counts = conn.execute(
                    sa.select(EXECUTIONS.c.status, sa.func.count())
                    .where(EXECUTIONS.c.run_id == row["run_id"])
                    .group_by(EXECUTIONS.c.status)
                ).all()
                row["executions"] = {status: n for status, n in counts}
        return rows

    def resolve_run_id(self, run_ref: str) -> str:
        """A full run id from a unique prefix, or 'latest'."""
        with self._engine.connect() as conn:
            if run_ref == "latest":
                row = conn.execute(
                    sa.select(RUNS.c.run_id).order_by(RUNS.c.started_at.desc()).limit(1)
                ).first()
                if row is None:
                    raise MetadataError(f"no runs recorded in {self.url}")
                return row[0]
            matches = conn.execute(
                sa.select(RUNS.c.run_id).where(RUNS.c.run_id.startswith(run_ref))
            ).all()
        if len(matches) != 1:
            raise MetadataError(
                f"run {run_ref!r}: expected exactly one run id starting with it, found "
                f"{len(matches)}; list runs with `seqline runs`"
            )
        return matches[0][0]

    def run(self, run_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(RUNS).where(RUNS.c.run_id == run_id)).first()
        if row is None:
            raise MetadataError(f"no run {run_id!r} in {self.url}")
        return dict(row._mapping)

    def executions(self, run_id: str) -> list[ExecutionRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(EXECUTIONS).where(EXECUTIONS.c.run_id == run_id).order_by(EXECUTIONS.c.id)
            ).all()
        return [self._execution(r) for r in rows]

    def execution(self, execution_id: int) -> ExecutionRecord:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(EXECUTIONS).where(EXECUTIONS.c.id == execution_id)).one()
        return self._execution(row)

    def artifacts_of(self, execution_id: int, kind: str) -> list[tuple[str, ArtifactRecord]]:
        """(event name, artifact) pairs of an execution's inputs or outputs."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(EVENTS.c.name, ARTIFACTS)
                .join(ARTIFACTS, ARTIFACTS.c.id == EVENTS.c.artifact_id)
                .where(EVENTS.c.execution_id == execution_id, EVENTS.c.kind == kind)
                .order_by(EVENTS.c.name)
            ).all()
        return [(r[0], self._artifact(r)) for r in rows]

    def artifact_by_uri(self, uri: str) -> ArtifactRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(ARTIFACTS).where(ARTIFACTS.c.uri == uri)).first()
        return None if row is None else self._artifact(row)

    def artifacts(
        self, type_name: str | None = None, node_id: str | None = None
    ) -> list[ArtifactRecord]:
        """Artifacts, newest first, optionally filtered by type and producing node."""
        query = sa.select(ARTIFACTS).order_by(ARTIFACTS.c.created_at.desc(), ARTIFACTS.c.id.desc())
        if type_name:
            query = query.where(ARTIFACTS.c.type_name == type_name)
        if node_id:
            query = query.where(ARTIFACTS.c.node_id == node_id)
        with self._engine.connect() as conn:
            return [self._artifact(r) for r in conn.execute(query).all()]

    def find_artifacts(
        self,
        type_name: str | None = None,
        *,
        node_id: str | None = None,
        pipeline_name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[ArtifactRecord]:
        """Artifacts newest first, filtered by type, producing node, the pipeline name of the
        run that produced them, and property values (every `properties` key must be present
        with an equal JSON value). Property matching runs in Python on the decoded JSON, so it
        behaves the same on SQLite and PostgreSQL; the SQL filters narrow the rows first.

        Example: the latest blessing of node "evaluate" in pipeline "imdb" that blessed:
            store.find_artifacts("Blessing", node_id="evaluate", pipeline_name="imdb",
                                 properties={"blessed": True}, limit=1)
        """
        query = sa.select(ARTIFACTS).order_by(ARTIFACTS.c.created_at.desc(), ARTIFACTS.c.id.desc())
        if type_name:
            query = query.where(ARTIFACTS.c.type_name == type_name)
        if node_id:
            query = query.where(ARTIFACTS.c.node_id == node_id)
        if pipeline_name:
            query = (
                query.join(EXECUTIONS, EXECUTIONS.c.id == ARTIFACTS.c.producer_execution_id)
                .join(RUNS, RUNS.c.run_id == EXECUTIONS.c.run_id)
                .where(RUNS.c.pipeline_name == pipeline_name)
            )
        wanted = dict(properties or {})
        found: list[ArtifactRecord] = []
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                record = self._artifact(row)
                if all(record.properties.get(k, _MISSING) == v for k, v in wanted.items()):
                    found.append(record)
                    if limit is not None and len(found) >= limit:
                        break
        return found

    def lineage(
        self, artifact_id: int
    ) -> Iterator[tuple[int, ExecutionRecord, str, ArtifactRecord]]:
        """Walks upstream from an artifact: yields (depth, producer execution, input name, input
        artifact) for every input of every producer, breadth first."""
        frontier = [(artifact_id, 0)]
        seen: set[int] = set()
        while frontier:
            current, depth = frontier.pop(0)
            with self._engine.connect() as conn:
                producer = conn.execute(
                    sa.select(ARTIFACTS.c.producer_execution_id).where(ARTIFACTS.c.id == current)
                ).scalar()
            if producer is None or producer in seen:
                continue
            seen.add(producer)
            execution = self.execution(producer)
            for name, upstream in self.artifacts_of(producer, "input"):
                yield depth, execution, name, upstream
                frontier.append((upstream.id, depth + 1))

    @staticmethod
    def _execution(row: Any) -> ExecutionRecord:
        return _record(ExecutionRecord, row, "summary")

    @staticmethod
    def _artifact(row: Any) -> ArtifactRecord:
        return _record(ArtifactRecord, row, "properties")


def _insert_execution(
    conn: sa.Connection,
    run_id: str,
    node_id: str,
    component: str,
    fingerprint: str,
    inputs: Mapping[str, int],
    status: str,
) -> int:
    execution_id = conn.execute(
        EXECUTIONS.insert().values(
            run_id=run_id,
            node_id=node_id,
            component=component,
            fingerprint=fingerprint,
            status=status,
            started_at=time.time(),
        )
    ).inserted_primary_key[0]
    for name, artifact_id in inputs.items():
        conn.execute(
            EVENTS.insert().values(
                execution_id=execution_id, artifact_id=artifact_id, kind="input", name=name
            )
        )
    return int(execution_id)


def _artifact_row(artifact: Any, node_id: str, name: str, execution_id: int) -> dict[str, Any]:
    return {
        "uri": artifact.uri,
        "type_name": artifact.type_name,
        "fingerprint": artifact.fingerprint,
        "node_id": node_id,
        "output": name,
        "properties": json.dumps(artifact.properties, default=str),
        "created_at": artifact.created,
        "producer_execution_id": execution_id,
    }


def _link_output(
    conn: sa.Connection, execution_id: int, name: str, uri: str, row: Mapping[str, Any] | None
) -> int:
    """The artifact row of `uri` (inserted from `row` if missing; a cached execution links to
    the existing row, which keeps its original producer) plus the output event; its id."""
    found = conn.execute(sa.select(ARTIFACTS.c.id).where(ARTIFACTS.c.uri == uri)).first()
    if found is not None:
        artifact_id = int(found[0])
    elif row is None:
        raise MetadataError(f"artifact {uri} vanished from the metadata store")
    else:
        artifact_id = int(conn.execute(ARTIFACTS.insert().values(**row)).inserted_primary_key[0])
    conn.execute(
        EVENTS.insert().values(
            execution_id=execution_id, artifact_id=artifact_id, kind="output", name=name
        )
    )
    return artifact_id


def _create_tables(engine: sa.Engine) -> None:
    """Creates missing tables. Two processes opening a new database at once may both try to
    create a table; the loser sees it exists and checks again."""
    for attempt in range(3):
        try:
            _META.create_all(engine)
            return
        except sa.exc.OperationalError as exc:
            if "already exists" not in str(exc) or attempt == 2:
                raise


def _record(cls: type[_R], row: Any, json_column: str) -> _R:
    """`cls` built from the row's columns of the same names, its JSON text column parsed
    ({} when empty). Extra columns in the row (e.g. an event name) are ignored."""
    values = {f.name: row._mapping[f.name] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values[json_column] = json.loads(values[json_column]) if values[json_column] else {}
    return cls(**values)
