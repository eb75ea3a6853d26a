"""The metadata store: runs, executions, artifacts and lineage in a real SQL database.

SQLite file `{pipeline_root}/metadata.sqlite` by default; any SQLAlchemy URL otherwise, e.g.
`postgresql+pg8000://user:pw@host/db` (install the `postgres` extra). ml-metadata cannot be
installed beside TF 2.21, so this is seqline's own small schema:

    runs(run_id, pipeline_name, status, started_at, finished_at, host, pid, error, pidns,
         proc_start)
    executions(id, run_id, node_id, component, fingerprint, status, started_at, finished_at,
               summary, error, host, pid, pidns, proc_start)
                                   status: RUNNING | COMPLETE | CACHED | FAILED | CRASHED
    artifacts(id, uri, type_name, fingerprint, node_id, output, properties, created_at,
              producer_execution_id)
    events(execution_id, artifact_id, kind, name)  kind: input | output
    root_leases(root, run_id, pid, host, acquired_at, pidns, proc_start)
                                   a run holding a remote pipeline root (or `seqline gc`
                                   holding any root)
    artifact_deletions(uri, deleted_at, deleted_by)
                                   artifact folders `seqline gc` deleted (pipeline/retention.py)

(host, pid, pidns, proc_start) is the process that runs, ran or holds it (a
locking.ProcessOwner): its PID namespace's inode and `{boot id}/{start ticks}`, NULL where they
cannot be read (not Linux) and in rows written before they were recorded. locking.check_process
judges it: a RUNNING run or execution is swept to CRASHED, and a lease taken over, only when
its process is verifiably gone (this host and PID namespace; pid gone or reused by a process
started at another time). Another host or PID namespace under this hostname (containers sharing
the host's network; a container restarted) cannot be judged: its lease holds until `seqline
unlock`, its rows stay RUNNING. Rows without a PID namespace are judged as before, by host and
pid.

Lineage follows events: an artifact's producer execution, that execution's inputs, and so on.

Stores written before executions had `host` and `pid`, or before runs, executions and
root_leases had `pidns` and `proc_start`, get the columns when opened (NULL in old rows). Their
run-id columns, VARCHAR(64) before, are widened to the RUN_ID_MAX_LENGTH characters
check_run_id allows (on PostgreSQL, which enforces the length; SQLite does not), or, when this
user may not, a view uses them or their lock is held, left as they are with a warning: a run
id longer than they hold is then refused, naming the statements that widen them. Every
database error but a constraint violation (IntegrityError, which callers handle) is raised as a
MetadataError that names the store and what to do: a damaged SQLite file, a lock held by
another process for longer than the busy timeout, a server that cannot be reached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from seqline.pipeline.errors import MetadataError
from seqline.pipeline.execution import RUN_ID_MAX_LENGTH
from seqline.pipeline.locking import OwnerCheck, ProcessOwner, RootBusyError, check_process
from seqline.storage import filesystem

log = logging.getLogger(__name__)

_META = sa.MetaData()
_R = TypeVar("_R")
_MISSING = object()  # find_artifacts: a property that is absent never equals a wanted value

RUNS = sa.Table(
    "runs",
    _META,
    sa.Column("run_id", sa.String(RUN_ID_MAX_LENGTH), primary_key=True),
    sa.Column("pipeline_name", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),
    sa.Column("error", sa.Text),
    # The process's PID namespace and start time (added later: _upgrade_tables).
    sa.Column("pidns", sa.String(32)),
    sa.Column("proc_start", sa.String(80)),
)
EXECUTIONS = sa.Table(
    "executions",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id",
        sa.String(RUN_ID_MAX_LENGTH),
        sa.ForeignKey("runs.run_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("component", sa.String(200), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("summary", sa.Text),
    sa.Column("error", sa.Text),
    # The process running it, to tell a RUNNING execution whose process died (added later:
    # NULL in rows written before; _upgrade_tables adds the columns to older stores).
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),
    sa.Column("pidns", sa.String(32)),
    sa.Column("proc_start", sa.String(80)),
)
# The columns added to each table since it was first released (_upgrade_tables).
_PROCESS_COLUMNS = {"pidns": "VARCHAR(32)", "proc_start": "VARCHAR(80)"}
_OWNER_COLUMNS = {
    "runs": _PROCESS_COLUMNS,
    "executions": {"host": "VARCHAR(200)", "pid": "INTEGER", **_PROCESS_COLUMNS},
    "root_leases": _PROCESS_COLUMNS,
}
# The tables whose `run_id` column holds a run id: VARCHAR(64) in stores created before it was
# RUN_ID_MAX_LENGTH, widened when opened (_upgrade_tables). `runs` first: executions refer to it.
_RUN_ID_TABLES = ("runs", "executions", "root_leases")
# How long a SQLite writer waits for another process's lock before giving up (Python's default
# is 5 s, short on a loaded machine).
SQLITE_BUSY_TIMEOUT = 60
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

# What `seqline gc` deleted (pipeline/retention.py): one row per artifact URI. An artifact
# published again after its deletion (a later run needed it) has a created_at after
# deleted_at, and is not deleted (MetadataStore.deletions).
ARTIFACT_DELETIONS = sa.Table(
    "artifact_deletions",
    _META,
    sa.Column("uri", sa.String(1000), primary_key=True),
    sa.Column("deleted_at", sa.Float, nullable=False),
    sa.Column("deleted_by", sa.String(200), nullable=False),
)


ROOT_LEASES = sa.Table(
    "root_leases",
    _META,
    sa.Column("root", sa.String(1000), primary_key=True),
    sa.Column("run_id", sa.String(RUN_ID_MAX_LENGTH), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("pidns", sa.String(32)),
    sa.Column("proc_start", sa.String(80)),
)


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL (`sqlite:///path`), None for other URLs and for an
    in-memory SQLite database."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _shown(url: str) -> str:
    """`url` for messages: the file of a SQLite URL, else the URL without its password."""
    path = sqlite_file(url)
    if path is not None:
        return path
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def store_error(url: str, exc: BaseException, opening: bool = False) -> MetadataError:
    """A MetadataError for a database error of the store at `url`: what happened, to which
    store, and what to do. `opening`: the error came while connecting."""
    reason = str(getattr(exc, "orig", None) or exc).strip()
    where = _shown(url)
    text = reason.lower()
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return MetadataError(
            f"metadata store {where} is damaged ({reason}): expected a SQLite database written "
            f"by seqline. Restore it from a backup, or move it aside (mv {where} "
            f"{where}.damaged): the next run creates a new, empty store there (run history and "
            "lineage start again; the artifacts under the pipeline root are reused as cache hits)"
        )
    if "database is locked" in text or "database table is locked" in text:
        return MetadataError(
            f"metadata store {where} is locked: another process held a lock on it for longer "
            f"than {SQLITE_BUSY_TIMEOUT} s ({reason}); expected to get it within that time. "
            "Find and end what holds it (a sqlite3 shell or a tool with a transaction open, a "
            "backup copying it; `fuser` lists the processes that have the file open), then run "
            "again: finished nodes are cached"
        )
    if "unable to open database file" in text or "readonly database" in text:
        return MetadataError(
            f"cannot write metadata store {where} ({reason}): expected a SQLite file in a "
            "folder this user can write; check the path and its permissions"
        )
    if opening:
        return MetadataError(f"cannot open metadata store {where}: {reason}")
    return MetadataError(f"metadata store {where} failed: {type(exc).__name__}: {reason}")


class RunExistsError(MetadataError):
    """start_run was given the id of a run the store already has."""


def default_metadata_url(pipeline_root: str) -> str:
    """`sqlite:///{pipeline_root}/metadata.sqlite` (the root must be a local path: a folder,
    or a `file://` URL, which storage/filesystem.py treats as that folder)."""
    if filesystem.is_remote(pipeline_root):
        raise MetadataError(
            f"pipeline root {pipeline_root!r} is remote, so the default SQLite metadata file "
            "cannot live under it; set `metadata_url` (e.g. postgresql+pg8000://user@host/db)"
        )
    local = pipeline_root.removeprefix("file://")
    return "sqlite:///" + os.path.abspath(os.path.join(local, "metadata.sqlite"))


def lease_key(root: str) -> str:
    """How a remote root is named in its lease: the scheme in lower case, no trailing '/',
    no empty path segments: `gs://b/p/`, `gs://b//p` and `GS://b/p` are all `gs://b/p`.
    `gs://b/p/` writes into the folders of `gs://b/p` (storage/filesystem.join strips the
    '/'); the other spellings are folded too, erring towards one lease for one folder."""
    scheme, sep, rest = root.partition("://")
    if not sep:
        return root
    return f"{scheme.lower()}://" + "/".join(part for part in rest.split("/") if part)


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


@dataclass
class RootLease:
    """A run's lease on a remote root, as recorded: `root` as the holder spelled it (older
    versions stored it unnormalised), `acquired_at` in seconds since the epoch."""

    root: str
    run_id: str
    pid: int
    host: str
    acquired_at: float


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
            # long.
            connect_args = {"timeout": SQLITE_BUSY_TIMEOUT} if url.startswith("sqlite") else {}
            self._engine = sa.create_engine(url, future=True, connect_args=connect_args)
            # Run-id columns an older seqline made narrower, which could not be widened.
            self._narrow = _create_tables(self._engine)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
            raise MetadataError(
                f"cannot open metadata store {_shown(url)!r}: {exc}. Expected a SQLAlchemy URL "
                "such as "
                "sqlite:////abs/path/metadata.sqlite or postgresql+pg8000://user:pw@host/db "
                "(pip install 'seqline[postgres]')"
            ) from exc
        except sa.exc.DBAPIError as exc:  # e.g. DatabaseError: file is not a database
            raise store_error(url, exc, opening=True) from exc

    @contextlib.contextmanager
    def _connection(self, transaction: bool) -> Iterator[sa.Connection]:
        """A connection, in a transaction committed when the block ends if `transaction`;
        database errors but IntegrityError are raised as MetadataError (store_error)."""
        try:
            opened = self._engine.begin() if transaction else self._engine.connect()
            with opened as conn:
                yield conn
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DBAPIError as exc:
            raise store_error(self.url, exc) from exc

    def _begin(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A transaction for writing (_connection)."""
        return self._connection(transaction=True)

    def _connect(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A connection for reading (_connection)."""
        return self._connection(transaction=False)

    def close(self) -> None:
        self._engine.dispose()

    def _check_fits(self, run_id: str, *tables: str) -> None:
        """Raises MetadataError if `run_id` is longer than the run-id column of one of `tables`
        holds: a PostgreSQL store an older seqline created, whose columns could not be widened
        when opened (_upgrade_tables), refuses it with "value too long". The width is read again
        first, in case a DBA widened the column since."""
        if not any(len(run_id) > self._narrow.get(table, len(run_id)) for table in tables):
            return
        with self._connect() as conn:
            self._narrow = _narrow_run_id_columns(conn, sa.inspect(conn))
        for table in tables:
            width = self._narrow.get(table)
            if width is not None and len(run_id) > width:
                raise MetadataError(
                    f"run id {run_id!r} has {len(run_id)} characters, but metadata store "
                    f"{_shown(self.url)} holds at most {width} in {table}.run_id: an older "
                    f"seqline created it, and its run-id columns could not be widened to "
                    f"{RUN_ID_MAX_LENGTH} characters when it was opened (this user may not "
                    "alter the tables, a view uses the column, or another session held a "
                    f"lock). Expected a run id of at most {width} characters, or have a DBA "
                    "(the tables' owner) run: "
                    + "; ".join(_widening(narrow) for narrow in self._narrow)
                )

    # -- writing -------------------------------------------------------------------------------

    def start_run(self, run_id: str, pipeline_name: str) -> None:
        """Records a new RUNNING run. First, what processes of this host left behind when they
        ended without finishing (killed, crashed) is marked CRASHED (sweep_stale). Raises
        RunExistsError, naming that run, if the store has a run `run_id` already."""
        self._check_fits(run_id, "runs", "executions")
        try:
            with self._begin() as conn:
                _sweep_stale(conn)
                conn.execute(
                    RUNS.insert().values(
                        run_id=run_id,
                        pipeline_name=pipeline_name,
                        status="RUNNING",
                        started_at=time.time(),
                        **_owner_values(ProcessOwner.this_process()),
                    )
                )
        except sa.exc.IntegrityError:
            with self._connect() as conn:
                existing = conn.execute(sa.select(RUNS).where(RUNS.c.run_id == run_id)).first()
            if existing is None:  # not the run id that clashed: the database's own error
                raise
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(existing.started_at))
            raise RunExistsError(
                f"run id {run_id!r} already exists (pipeline '{existing.pipeline_name}', "
                f"started {started}, {existing.status}); expected a new id for a whole run. "
                "Omit --run-id (seqline makes a new one) or choose another; to run one node "
                f"as part of that run, use `seqline run CONFIG --node NODE --run-id {run_id}`"
            ) from None

    def sweep_stale(self) -> None:
        """Marks CRASHED the runs left RUNNING by a process that is verifiably gone
        (locking.check_process: of this host and PID namespace, and its pid gone or reused by
        a process that started at another time), and every execution left RUNNING whose
        process is gone, whatever its run's status (an interrupted or failed run may be
        finished while an execution was never closed). An execution is judged by its own
        process (executions recorded before they had one: by their run's), so one still
        running in another live process (an orchestrator's task of the same run) is left
        alone; processes of other hosts or PID namespaces are never judged. start_run calls
        it."""
        with self._begin() as conn:
            _sweep_stale(conn)

    def acquire_root(self, root: str, run_id: str) -> None:
        """Leases `root` to `run_id`; raises RootBusyError naming the holder if another run
        holds it whose process is not verifiably gone. A lease whose process is gone
        (locking.check_process DEAD: this host and PID namespace, pid gone or reused by a
        process started at another time) is taken over; one of another host or PID namespace
        cannot be judged from here and holds until `seqline unlock`. Roots are compared as
        lease_key names them (`gs://b/p/` is `gs://b/p`), stored ones too: a lease an older
        version recorded under another spelling blocks as well."""
        self._check_fits(run_id, "root_leases")
        key = lease_key(root)
        me = _owner_values(ProcessOwner.this_process())
        for _attempt in range(3):
            holder: Any = None
            try:
                with self._begin() as conn:
                    for lease in _leases_of(conn, key):
                        if _check(lease) is OwnerCheck.DEAD:
                            conn.execute(
                                ROOT_LEASES.delete().where(
                                    ROOT_LEASES.c.root == lease.root,
                                    ROOT_LEASES.c.run_id == lease.run_id,
                                )
                            )
                        else:
                            holder = lease
                            break
                    if holder is None:
                        conn.execute(
                            ROOT_LEASES.insert().values(
                                root=key, run_id=run_id, acquired_at=time.time(), **me
                            )
                        )
                        return
            except sa.exc.IntegrityError:
                continue  # leased meanwhile: look again
            spelled = f" (recorded as {holder.root})" if holder.root != key else ""
            raise RootBusyError(
                f"another run ({holder.run_id}, pid {holder.pid}, host {holder.host}) holds "
                f"{key}{spelled}; wait for it to finish (a remote root runs one pipeline run at "
                "a time). If that process is dead but cannot be checked from here (another "
                "host, or another PID namespace under this hostname: a container sharing "
                "the host's network, or this container restarted since), release its lease "
                f"with `seqline unlock {key} --metadata-url ...`"
            )
        raise RootBusyError(f"could not lease {key}: it keeps changing hands; try again")

    def release_root(self, root: str, run_id: str | None = None) -> list[RootLease]:
        """Ends the leases on `root` (only `run_id`'s, when given) and returns them, oldest
        first (empty: there was none). Roots are compared as lease_key names them, stored ones
        too: a lease an older version recorded under another spelling (`gs://b/p/`) is ended
        by any spelling of its root."""
        key = lease_key(root)
        released: list[RootLease] = []
        with self._begin() as conn:
            for lease in _leases_of(conn, key):
                if run_id is not None and lease.run_id != run_id:
                    continue
                conn.execute(
                    ROOT_LEASES.delete().where(
                        ROOT_LEASES.c.root == lease.root, ROOT_LEASES.c.run_id == lease.run_id
                    )
                )
                released.append(
                    RootLease(lease.root, lease.run_id, lease.pid, lease.host, lease.acquired_at)
                )
        return released

    def root_leases(self, root: str) -> list[RootLease]:
        """The leases held on `root` (compared as lease_key names them) whose process is not
        verifiably gone, oldest first: who holds it, without taking it (gc's messages)."""
        with self._connect() as conn:
            rows = _leases_of(conn, lease_key(root))
        return [
            RootLease(row.root, row.run_id, row.pid, row.host, row.acquired_at)
            for row in rows
            if _check(row) is not OwnerCheck.DEAD
        ]

    def settle_run(
        self,
        run_id: str,
        decide: Callable[[list[ExecutionRecord], str | None], tuple[str, str | None]],
    ) -> tuple[str, str | None]:
        """Sets run `run_id`'s status and error to `decide(its executions oldest first, the
        run's error so far)`, and its end time to now, in one transaction that holds the run's
        write lock from before it reads. Processes settling one run at once (an orchestrator's
        parallel tasks ending together) take turns, and the later one decides from every
        execution the earlier ones committed: a SUCCEEDED decided before a sibling's failure
        was recorded can no longer overwrite that failure. Returns (status, error)."""
        with self._begin() as conn:
            # A write first, so the lock is taken before the reads below: PostgreSQL locks the
            # run's row, SQLite the database (its driver begins the transaction at the first
            # write; a read first would see the executions outside it).
            conn.execute(RUNS.update().where(RUNS.c.run_id == run_id).values(run_id=RUNS.c.run_id))
            rows = conn.execute(
                sa.select(EXECUTIONS).where(EXECUTIONS.c.run_id == run_id).order_by(EXECUTIONS.c.id)
            ).all()
            previous = conn.execute(
                sa.select(RUNS.c.error).where(RUNS.c.run_id == run_id)
            ).scalar_one_or_none()
            status, error = decide([self._execution(r) for r in rows], previous)
            conn.execute(
                RUNS.update()
                .where(RUNS.c.run_id == run_id)
                .values(status=status, finished_at=time.time(), error=error)
            )
        return status, error

    def finish_run(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        *,
        unfinished_error: str | None = None,
    ) -> list[str]:
        """Sets the run's status, error and end time. `unfinished_error`: in the same
        transaction, the run's executions this process left RUNNING (nodes still running in
        other threads when the run was interrupted, or whose end could not be recorded) are
        marked FAILED with this error. Returns their node ids."""
        with self._begin() as conn:
            unfinished: list[str] = []
            if unfinished_error is not None:
                mine = sa.and_(
                    EXECUTIONS.c.run_id == run_id,
                    EXECUTIONS.c.status == "RUNNING",
                    EXECUTIONS.c.pid == os.getpid(),
                    EXECUTIONS.c.host == socket.gethostname(),
                )
                unfinished = list(
                    conn.execute(sa.select(EXECUTIONS.c.node_id).where(mine)).scalars()
                )
                conn.execute(
                    EXECUTIONS.update()
                    .where(mine)
                    .values(status="FAILED", finished_at=time.time(), error=unfinished_error)
                )
            conn.execute(
                RUNS.update()
                .where(RUNS.c.run_id == run_id)
                .values(status=status, finished_at=time.time(), error=error)
            )
        return unfinished

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
        self._check_fits(run_id, "executions")
        with self._begin() as conn:
            return _insert_execution(conn, run_id, node_id, component, fingerprint, inputs, status)

    def finish_execution(
        self,
        execution_id: int,
        status: str,
        summary: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._begin() as conn:
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
        """Registers an output artifact that execution `execution_id` published, and the output
        event; returns the artifact id. One row per URI: when the URI already has one (the
        node ran again under the same fingerprint because its cached output was damaged, or
        what it did outside the root was gone), the row is updated to what is published now
        (type, properties, created, producer). Earlier executions keep their events: the
        earlier producer's output event and earlier consumers' input events still name the
        URI, and their summaries say what they did then. Two runs registering the same artifact
        at once (concurrent runs on one root) both get the one row."""
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
            with self._begin() as conn:
                return _link_output(conn, execution_id, name, uri, row, replace=True)
        except sa.exc.IntegrityError:
            # Another run registered the same artifact between our select and insert.
            with self._begin() as conn:
                return _link_output(conn, execution_id, name, uri, row, replace=True)

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
        self._check_fits(run_id, "executions")
        ids: dict[str, int] = {}
        for attempt in range(2):
            try:
                with self._begin() as conn:
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
        with self._connect() as conn:
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
        """A full run id from itself, a unique prefix, or 'latest'. A prefix is matched
        literally and case-sensitively, alike on every database. An empty or blank reference is
        refused (MetadataError): as a prefix it matched every run, so it named the only run or
        none."""
        if not run_ref.strip():
            got = "an empty string" if not run_ref else "a blank string (only whitespace)"
            raise MetadataError(
                f"run {run_ref!r}: expected a run id, a unique prefix of one, or 'latest', got "
                f"{got}; list runs with `seqline runs`"
            )
        with self._connect() as conn:
            if run_ref == "latest":
                row = conn.execute(
                    sa.select(RUNS.c.run_id).order_by(RUNS.c.started_at.desc()).limit(1)
                ).first()
                if row is None:
                    raise MetadataError(f"no runs recorded in {self.url}")
                return row[0]
            # `_` is a LIKE wildcard (Airflow's ids are full of it): match it literally. LIKE
            # narrows the rows; SQLite's ignores ASCII case, so startswith decides.
            candidates = conn.execute(
                sa.select(RUNS.c.run_id).where(RUNS.c.run_id.startswith(run_ref, autoescape=True))
            ).all()
        matches = [match for match in candidates if match[0].startswith(run_ref)]
        if any(match[0] == run_ref for match in matches):
            return run_ref  # a whole id, though a longer one starts with it (r1 and r10)
        if len(matches) != 1:
            raise MetadataError(
                f"run {run_ref!r}: expected exactly one run id starting with it, found "
                f"{len(matches)}; list runs with `seqline runs`"
            )
        return matches[0][0]

    def run(self, run_id: str) -> dict[str, Any]:
        with self._connect() as conn:
            row = conn.execute(sa.select(RUNS).where(RUNS.c.run_id == run_id)).first()
        if row is None:
            raise MetadataError(f"no run {run_id!r} in {self.url}")
        return dict(row._mapping)

    def executions(self, run_id: str) -> list[ExecutionRecord]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(EXECUTIONS).where(EXECUTIONS.c.run_id == run_id).order_by(EXECUTIONS.c.id)
            ).all()
        return [self._execution(r) for r in rows]

    def execution(self, execution_id: int) -> ExecutionRecord:
        with self._connect() as conn:
            row = conn.execute(sa.select(EXECUTIONS).where(EXECUTIONS.c.id == execution_id)).one()
        return self._execution(row)

    def artifacts_of(self, execution_id: int, kind: str) -> list[tuple[str, ArtifactRecord]]:
        """(event name, artifact) pairs of an execution's inputs or outputs."""
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(EVENTS.c.name, ARTIFACTS)
                .join(ARTIFACTS, ARTIFACTS.c.id == EVENTS.c.artifact_id)
                .where(EVENTS.c.execution_id == execution_id, EVENTS.c.kind == kind)
                .order_by(EVENTS.c.name)
            ).all()
        return [(r[0], self._artifact(r)) for r in rows]

    def artifact_by_uri(self, uri: str) -> ArtifactRecord | None:
        with self._connect() as conn:
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
        with self._connect() as conn:
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
        with self._connect() as conn:
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
            with self._connect() as conn:
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

    # -- retention (pipeline/retention.py) -----------------------------------------------------

    def all_runs(self) -> list[dict[str, Any]]:
        """Every run's row (run_id, pipeline_name, status, started_at, host, pid...), newest
        first, without the execution counts `runs` adds."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(RUNS).order_by(RUNS.c.started_at.desc())).all()
        return [dict(r._mapping) for r in rows]

    def artifacts_under(self, prefix: str) -> list[ArtifactRecord]:
        """The artifacts whose URI starts with `prefix` (matched literally), newest first."""
        query = (
            sa.select(ARTIFACTS)
            .where(ARTIFACTS.c.uri.startswith(prefix, autoescape=True))
            .order_by(ARTIFACTS.c.created_at.desc(), ARTIFACTS.c.id.desc())
        )
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [self._artifact(r) for r in rows if r.uri.startswith(prefix)]

    def root_uses(self, prefix: str) -> list[tuple[str, int, str, str, float, str]]:
        """(run id, execution id, node id, execution status, execution start, artifact URI)
        for every input and output event whose artifact's URI starts with `prefix`: what each
        execution read or published there, a cached execution's reuse and resolved inputs
        included."""
        query = (
            sa.select(
                EXECUTIONS.c.run_id,
                EXECUTIONS.c.id,
                EXECUTIONS.c.node_id,
                EXECUTIONS.c.status,
                EXECUTIONS.c.started_at,
                ARTIFACTS.c.uri,
            )
            .join(EVENTS, EVENTS.c.execution_id == EXECUTIONS.c.id)
            .join(ARTIFACTS, ARTIFACTS.c.id == EVENTS.c.artifact_id)
            .where(ARTIFACTS.c.uri.startswith(prefix, autoescape=True))
            .distinct()
        )
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [
            (r[0], int(r[1]), r[2], r[3], float(r[4]), r[5])
            for r in rows
            if r[5].startswith(prefix)
        ]

    def record_deletion(self, uri: str, deleted_by: str) -> None:
        """Records that the artifact folder `uri` was deleted now, by `deleted_by`."""
        with self._begin() as conn:
            _write_deletion(conn, uri, time.time(), deleted_by)

    def check_deletions_writable(self) -> None:
        """Raises MetadataError unless this user may record deletions (record_deletion): gc
        calls it before it deletes anything, not after the first artifact.json went. A
        PostgreSQL role granted its tables before gc's table existed (the owner created it on
        upgrading) may not; a read-only SQLite file neither."""
        try:
            with self._engine.connect() as conn:
                probe = conn.begin()
                try:  # what record_deletion does, rolled back
                    _write_deletion(conn, "", 0.0, "")
                finally:
                    probe.rollback()
        except sa.exc.DBAPIError as exc:
            if not _not_permitted(exc):
                raise store_error(self.url, exc) from exc
            raise MetadataError(
                f"metadata store {_shown(self.url)}: seqline gc records each folder it deletes "
                f"in table artifact_deletions, which this user may not write "
                f"({_driver_message(exc)}); nothing was deleted. {_deletions_grant(self.url)}"
            ) from exc

    def deletions(self, uris: list[str] | None = None) -> dict[str, tuple[float, str]]:
        """uri -> (deleted_at, deleted_by) of the artifacts among `uris` (all when None) whose
        folder was deleted and not published again since (created after the deletion)."""
        query = sa.select(
            ARTIFACT_DELETIONS.c.uri,
            ARTIFACT_DELETIONS.c.deleted_at,
            ARTIFACT_DELETIONS.c.deleted_by,
            ARTIFACTS.c.created_at,
        ).outerjoin(ARTIFACTS, ARTIFACTS.c.uri == ARTIFACT_DELETIONS.c.uri)
        if uris is not None:
            query = query.where(ARTIFACT_DELETIONS.c.uri.in_(uris))
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except sa.exc.DBAPIError as exc:
            if not _not_permitted(exc):
                raise store_error(self.url, exc) from exc
            # A role granted its tables before gc's table came (the owner created it on
            # upgrading): `seqline show` still shows the run, without the marks.
            if self.url not in _WARNED_DELETIONS:
                _WARNED_DELETIONS.add(self.url)
                log.warning(
                    "metadata store %s: cannot read which artifacts seqline gc deleted (%s): "
                    "they are not marked. %s",
                    _shown(self.url),
                    _driver_message(exc),
                    _deletions_grant(self.url),
                )
            return {}
        return {
            uri: (deleted_at, by)
            for uri, deleted_at, by, created_at in rows
            if created_at is None or created_at <= deleted_at
        }

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
            **_owner_values(ProcessOwner.this_process()),
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
    conn: sa.Connection,
    execution_id: int,
    name: str,
    uri: str,
    row: Mapping[str, Any] | None,
    replace: bool = False,
) -> int:
    """The artifact row of `uri` (inserted from `row` if missing) plus the output event; its
    id. An existing row is kept as it is (a cached execution links to it, and it keeps its
    original producer), or with `replace` updated from `row` (an execution published the URI
    again)."""
    found = conn.execute(sa.select(ARTIFACTS.c.id).where(ARTIFACTS.c.uri == uri)).first()
    if found is not None:
        artifact_id = int(found[0])
        if replace and row is not None:
            conn.execute(
                ARTIFACTS.update()
                .where(ARTIFACTS.c.id == artifact_id)
                .values(**{k: v for k, v in row.items() if k != "uri"})
            )
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


def _sweep_stale(conn: sa.Connection) -> None:
    """MetadataStore.sweep_stale in the caller's transaction."""
    owner = [RUNS.c.host, RUNS.c.pid, RUNS.c.pidns, RUNS.c.proc_start]
    stale_runs = conn.execute(
        sa.select(RUNS.c.run_id, *owner).where(
            RUNS.c.status == "RUNNING", RUNS.c.host == socket.gethostname()
        )
    ).all()
    for stale_id, *process in stale_runs:
        if check_process(ProcessOwner(*process)) is OwnerCheck.DEAD:
            conn.execute(
                RUNS.update()
                .where(RUNS.c.run_id == stale_id)
                .values(status="CRASHED", error="process ended without finishing")
            )
    e_owner = [EXECUTIONS.c.host, EXECUTIONS.c.pid, EXECUTIONS.c.pidns, EXECUTIONS.c.proc_start]
    running = conn.execute(
        sa.select(EXECUTIONS.c.id, *e_owner, *owner)
        .join(RUNS, RUNS.c.run_id == EXECUTIONS.c.run_id)
        .where(EXECUTIONS.c.status == "RUNNING")
    ).all()
    dead = [
        execution_id
        for execution_id, *process in running
        # Executions recorded before they had an owner: their run's process ran them.
        if check_process(ProcessOwner(*(process[:4] if process[1] is not None else process[4:])))
        is OwnerCheck.DEAD
    ]
    if dead:
        conn.execute(
            EXECUTIONS.update()
            .where(EXECUTIONS.c.id.in_(dead))
            .values(
                status="CRASHED",
                finished_at=time.time(),
                error="the process running it ended before it finished (killed or crashed); "
                "run the pipeline again: this node runs again",
            )
        )


def _owner_values(owner: ProcessOwner) -> dict[str, Any]:
    """The owner columns of a row recording `owner`."""
    return {
        "host": owner.host,
        "pid": owner.pid,
        "pidns": owner.pidns,
        "proc_start": owner.start,
    }


def _leases_of(conn: sa.Connection, key: str) -> list[Any]:
    """The root_leases rows whose root lease_key names `key`, oldest first. The table holds
    one row per running remote root, so it is read whole: older versions stored roots
    unnormalised (`gs://b/p/`), which no WHERE on the column would match."""
    rows = conn.execute(sa.select(ROOT_LEASES).order_by(ROOT_LEASES.c.acquired_at)).all()
    return [row for row in rows if lease_key(row.root) == key]


def _check(row: Any) -> OwnerCheck:
    """check_process of the process a row's owner columns record."""
    return check_process(ProcessOwner(row.host, row.pid, row.pidns, row.proc_start))


# Any constant: the key of the PostgreSQL advisory lock that serialises schema creation.
_SCHEMA_LOCK_KEY = 0x5E911E


def _lost_creation_race(exc: sa.exc.DBAPIError) -> bool:
    """True for the errors a process gets when another one created the same table or type
    between its existence check and its CREATE: SQLite's "table ... already exists",
    PostgreSQL's duplicate table (42P07) or the duplicate row in pg_type (23505) that two
    concurrent CREATE TABLEs of one name raise."""
    text = str(exc).lower()
    return any(
        sign in text for sign in ("already exists", "duplicate column", "pg_type_typname_nsp_index")
    )


def _create_tables(engine: sa.Engine) -> dict[str, int]:
    """Creates missing tables and upgrades older ones (_upgrade_tables); returns the run-id
    columns still narrower than RUN_ID_MAX_LENGTH, table -> length (_upgrade_tables).

    Several processes may open a new store at once (an orchestrator starting a run's first
    tasks). On PostgreSQL they take turns under a transaction-scoped advisory lock, since two
    concurrent CREATE TABLEs of one name fail there with a duplicate key in pg_type; elsewhere
    (SQLite, whose driver runs DDL outside a transaction) the loser of such a race sees the
    object exists and checks again. Each lost race means another process created one more of
    the schema's objects, so one attempt per object (and one more) always suffices."""
    objects = len(_META.tables) + sum(len(columns) for columns in _OWNER_COLUMNS.values())
    for attempt in range(objects + 1):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": _SCHEMA_LOCK_KEY})  # fmt: skip
                missing = _missing_tables(conn)
                try:
                    _META.create_all(conn, tables=missing)
                except sa.exc.DBAPIError as exc:
                    if _lost_creation_race(exc) or not _not_permitted(exc):
                        raise
                    raise _may_not_create(conn, missing, exc) from exc
                return _upgrade_tables(conn)
        except sa.exc.DBAPIError as exc:
            if not _lost_creation_race(exc) or attempt == objects:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _missing_tables(conn: sa.Connection) -> list[sa.Table]:
    """The tables of the schema the store lacks, in creation order."""
    inspector = sa.inspect(conn)
    return [table for table in _META.sorted_tables if not inspector.has_table(table.name)]


def _may_not_create(
    conn: sa.Connection, missing: list[sa.Table], exc: sa.exc.DBAPIError
) -> MetadataError:
    """The error for a store that lacks `missing` tables this user may not create: a store of
    an older seqline (artifact_deletions came with `seqline gc`) opened by a PostgreSQL role
    without CREATE on the schema, or a read-only SQLite file; names the statements to run."""
    statements = [
        " ".join(str(sa.schema.CreateTable(table).compile(conn)).split()) for table in missing
    ]
    for table in missing:
        statements.extend(
            " ".join(str(sa.schema.CreateIndex(index).compile(conn)).split())
            for index in table.indexes
        )
    what = "was written by an older seqline" if len(missing) < len(_META.tables) else "is new"
    return MetadataError(
        f"metadata store {_shown(str(conn.engine.url))} {what} and needs "
        f"{len(missing)} table(s) created once ({', '.join(t.name for t in missing)}), which "
        f"this user may not do ({_driver_message(exc)}). Expected a user that can create "
        "tables in its schema: open it once as the tables' owner (e.g. `seqline runs` with "
        "the owner's metadata URL, or a user that can write the SQLite file), or have a DBA "
        "run: " + "; ".join(statements)
    )


def _missing_owner_columns(inspector: sa.Inspector) -> list[str]:
    """The ALTER TABLE statements an older store needs (columns of _OWNER_COLUMNS it lacks)."""
    statements: list[str] = []
    for table, columns in _OWNER_COLUMNS.items():
        have = {column["name"] for column in inspector.get_columns(table)}
        statements.extend(
            f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"
            for column, sql_type in columns.items()
            if column not in have
        )
    return statements


def _narrow_run_id_columns(conn: sa.Connection, inspector: sa.Inspector) -> dict[str, int]:
    """The run-id columns (_RUN_ID_TABLES) narrower than RUN_ID_MAX_LENGTH, table -> length: a
    PostgreSQL store created when they were VARCHAR(64), where a longer run id (an Airflow run
    of a DAG whose id has 27 characters or more, for a manual run) fails at run start. Empty
    elsewhere: SQLite does not enforce a VARCHAR's length (nor can it alter a column)."""
    if conn.dialect.name != "postgresql":
        return {}
    narrow: dict[str, int] = {}
    for table in _RUN_ID_TABLES:
        (column,) = (c for c in inspector.get_columns(table) if c["name"] == "run_id")
        length = getattr(column["type"], "length", None)  # None: TEXT, unlimited VARCHAR
        if length is not None and length < RUN_ID_MAX_LENGTH:
            narrow[table] = length
    return narrow


def _widening(table: str) -> str:
    """The statement widening `table`'s run-id column to RUN_ID_MAX_LENGTH."""
    return f"ALTER TABLE {table} ALTER COLUMN run_id TYPE VARCHAR({RUN_ID_MAX_LENGTH})"


# How long an upgrade's ALTER TABLE waits for its table's lock (PostgreSQL's lock_timeout, in
# ms). ALTER TABLE needs an ACCESS EXCLUSIVE lock: a session idle in a transaction that read
# the table (a psql shell, a BI tool) would make it wait for ever, every other opener behind it
# on the advisory lock, and every query of the table behind the ALTER.
_UPGRADE_LOCK_TIMEOUT_MS = 3000
# The stores (URL, schema) whose run-id columns this process could not widen and has warned of.
_WARNED_NARROW: set[tuple[str, str]] = set()


def _upgrade_tables(conn: sa.Connection) -> dict[str, int]:
    """Upgrades a store written by an older seqline, in the caller's transaction (which holds
    the advisory lock on PostgreSQL): adds the owner columns added since a table was first
    released (_OWNER_COLUMNS: executions.host and .pid; pidns and proc_start of runs,
    executions and root_leases; NULL in its rows), and widens its run-id columns
    (_narrow_run_id_columns). Two processes adding columns at once: the loser's error is a
    lost race (_lost_creation_race or a duplicate column), and _create_tables checks again.

    On PostgreSQL each ALTER waits at most _UPGRADE_LOCK_TIMEOUT_MS for its table's lock. A
    widening is only needed by run ids longer than the old 64 characters, so one this user may
    not do (a role that does not own the tables), that a view or rule on the column prevents,
    or whose lock is held too long is rolled back (each runs in a SAVEPOINT) and skipped with
    a warning, once per process and store, naming the statements a DBA should run; a run id
    too long for the column is then refused when recorded (MetadataStore._check_fits).

    Returns: the run-id columns still narrower than RUN_ID_MAX_LENGTH, table -> length.

    Raises:
        MetadataError: the owner columns are missing and this user may not add them (a
            PostgreSQL role that does not own the tables, a read-only SQLite file), or their
            tables' locks are held too long, naming the statements the owner must run once.
    """
    inspector = sa.inspect(conn)
    added = _missing_owner_columns(inspector)
    narrow = _narrow_run_id_columns(conn, inspector)
    widened = [_widening(table) for table in narrow]
    if not added and not widened:
        return narrow
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:  # after the advisory lock, whose wait it would limit too
        conn.execute(sa.text(f"SET LOCAL lock_timeout = {_UPGRADE_LOCK_TIMEOUT_MS}"))
    for statement in added:
        try:
            conn.execute(sa.text(statement))
        except sa.exc.DBAPIError as exc:
            if _lost_creation_race(exc) or not (_not_permitted(exc) or _lock_timed_out(exc)):
                raise
            changes = [f"{len(added)} column(s) added"]
            if widened:
                changes.append(f"{len(widened)} run-id column(s) widened")
            if _lock_timed_out(exc):
                why = (
                    f"another session held a lock on its table for more than "
                    f"{_UPGRADE_LOCK_TIMEOUT_MS / 1000:g} s ({_driver_message(exc)}). Expected "
                    "to get it within that time: end the session that holds it (a transaction "
                    "left open in psql or a BI tool; see pg_stat_activity) and open it again, "
                )
            else:
                why = (
                    f"which this user may not do ({_driver_message(exc)}). Expected a user "
                    "that can alter its tables: open it once as the tables' owner (e.g. "
                    "`seqline runs` with the owner's metadata URL, or a user that can write "
                    "the SQLite file), "
                )
            raise MetadataError(
                f"metadata store {_shown(str(conn.engine.url))} was written by an older seqline "
                f"and needs {' and '.join(changes)} once, {why}or have a DBA run: "
                + "; ".join(added + widened)
            ) from exc
    tables = list(narrow)
    for done, table in enumerate(tables):
        try:
            with conn.begin_nested():  # a SAVEPOINT: a failed ALTER aborts only itself
                conn.execute(sa.text(_widening(table)))
        except sa.exc.DBAPIError as exc:
            if not (_not_permitted(exc) or _lock_timed_out(exc) or _has_dependents(exc)):
                raise
            _warn_narrow(conn, exc, tables[done:])
            break
        del narrow[table]
    return narrow


def _warn_narrow(conn: sa.Connection, exc: sa.exc.DBAPIError, tables: list[str]) -> None:
    """Logs, once per process and store, that the run-id columns of `tables` could not be
    widened (exc), and the statements that widen them."""
    store = _shown(str(conn.engine.url))
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar() or ""
    if (store, schema) in _WARNED_NARROW:
        return
    _WARNED_NARROW.add((store, schema))
    if _lock_timed_out(exc):
        why = (
            f"another session held a lock on a table for more than "
            f"{_UPGRADE_LOCK_TIMEOUT_MS / 1000:g} s (a transaction left open in psql or a BI "
            "tool; see pg_stat_activity); the next opening tries again"
        )
    elif _has_dependents(exc):
        why = "a view or rule uses the column; drop it, widen the column, and create it again"
    else:
        why = "this user may not alter the tables; the tables' owner may"
    log.warning(
        "metadata store %s: could not widen the run-id columns of %s to %d characters "
        "(%s): %s. Run ids longer than they hold are refused until a DBA runs: %s",
        store,
        ", ".join(tables),
        RUN_ID_MAX_LENGTH,
        _driver_message(exc),
        why,
        "; ".join(_widening(table) for table in tables),
    )


def _write_deletion(conn: sa.Connection, uri: str, deleted_at: float, deleted_by: str) -> None:
    """Replaces the artifact_deletions row of `uri` (MetadataStore.record_deletion)."""
    conn.execute(ARTIFACT_DELETIONS.delete().where(ARTIFACT_DELETIONS.c.uri == uri))
    conn.execute(
        ARTIFACT_DELETIONS.insert().values(uri=uri, deleted_at=deleted_at, deleted_by=deleted_by)
    )


# The stores whose artifact_deletions this process could not read and has warned of.
_WARNED_DELETIONS: set[str] = set()


def _deletions_grant(url: str) -> str:
    """What gives this store's user the use of artifact_deletions."""
    if sqlite_file(url) is not None:
        return "Expected a user that can write the SQLite file"
    user = sa.engine.make_url(url).username or "this user"
    return (
        "Expected the grants the other tables have: have the tables' owner run: GRANT SELECT, "
        f"INSERT, DELETE ON artifact_deletions TO {user}"
    )


def _driver_message(exc: sa.exc.DBAPIError) -> str:
    """The database's own message: pg8000 carries a dict of fields ("M" is the message)."""
    orig = getattr(exc, "orig", None)
    first = orig.args[0] if orig is not None and orig.args else None
    if isinstance(first, dict) and "M" in first:
        return f"{first.get('C', '')} {first['M']}".strip()
    return str(orig or exc).strip()


def _sqlstate(exc: sa.exc.DBAPIError) -> str:
    """PostgreSQL's SQLSTATE code of a database error ("" when there is none): pg8000 carries it
    as field "C" of a dict, psycopg as `sqlstate` or `pgcode`."""
    orig = getattr(exc, "orig", None)
    first = orig.args[0] if orig is not None and orig.args else None
    if isinstance(first, dict):
        return str(first.get("C", ""))
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")


def _lock_timed_out(exc: sa.exc.DBAPIError) -> bool:
    """PostgreSQL's lock_not_available (55P03): lock_timeout ended the wait for a lock."""
    return _sqlstate(exc) == "55P03"


def _has_dependents(exc: sa.exc.DBAPIError) -> bool:
    """PostgreSQL's refusal to change the type of a column a view or rule uses (0A000)."""
    return _sqlstate(exc) == "0A000"


def _not_permitted(exc: sa.exc.DBAPIError) -> bool:
    """A permission error: PostgreSQL's insufficient privilege (42501, "must be owner"),
    SQLite's read-only database."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(
        sign in text
        for sign in ("42501", "must be owner", "permission denied", "readonly database")
    )


def _record(cls: type[_R], row: Any, json_column: str) -> _R:
    """`cls` built from the row's columns of the same names, its JSON text column parsed
    ({} when empty). Extra columns in the row (e.g. an event name) are ignored."""
    values = {f.name: row._mapping[f.name] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values[json_column] = json.loads(values[json_column]) if values[json_column] else {}
    return cls(**values)
