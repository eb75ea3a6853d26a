"""Runs a Pipeline: pre-run checks, fingerprints, cache, atomic publish, metadata, progress.

Nodes start in topological order once their upstreams succeeded, up to `max_parallel` at once
(pipeline/scheduling.py: threads; a failed node's downstream nodes are skipped, independent
ones still run). For each node:
  0. resolve its resolved inputs (the last blessed model...) from the metadata store
     (pipeline/resolvers.py);
  1. fingerprint = hash(component name and version, its code's import closure, library
     versions, config, input and resolved-input fingerprints, outside-data identity; see
     pipeline/fingerprint.py);
  2. if every output `{root}/{node}/{output}/{fingerprint}/artifact.json` exists -> CACHED;
  3. else take the node's lock (pipeline/locking.py: a concurrent run executing the same node
     is waited for, and its outputs reused), check the cache again, and execute it
     (pipeline/execution.py): the executor writes into temporary siblings
     `.tmp-{fingerprint}-{owner}`, each artifact.json is written last and renamed into place.
     A run killed at any point leaves only `.tmp-*` directories, which are never read and are
     removed by the next run of that node once their owner is dead. A failed node's outputs
     are kept under `{root}/_failed/{run}/{node}/`.
A run on a local root holds the root lock shared from start to end (pipeline/root_lock.py), so
`seqline gc` (pipeline/retention.py) never deletes while it runs; on a remote root the run's
lease does that.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.artifact import Artifact, DamagedArtifact, artifact_uri, read_artifact
from seqline.pipeline.artifact_manifest import damage
from seqline.pipeline.dag import Node, Pipeline
from seqline.pipeline.errors import ComponentFailed, ConfigError, MetadataError, SeqlineError
from seqline.pipeline.execution import (
    NodeExecution,
    add_line,
    check_run_id,
    execute,
    failed_outputs_line,
    remove_own_scratch,
)
from seqline.pipeline.fingerprint import node_fingerprint
from seqline.pipeline.locking import Holder, node_lock
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.prestart import Warmups, close_handle, no_warmups
from seqline.pipeline.resolvers import (
    ResolverQuery,
    resolution_notes,
    resolve_inputs,
    resolved_fingerprint,
)
from seqline.pipeline.root_lock import root_in_use
from seqline.pipeline.scheduling import (
    check_max_parallel,
    default_max_parallel,
    effective_max_parallel,
    schedule,
)
from seqline.storage import filesystem

log = logging.getLogger(__name__)


@dataclass
class NodeResult:
    """What happened to one node: status is CACHED, COMPLETE, FAILED or SKIPPED."""

    node_id: str
    component: str
    fingerprint: str
    status: str = "SKIPPED"
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Artifact] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    pipeline_name: str
    status: str
    nodes: list[NodeResult]
    seconds: float
    metadata_url: str

    def node(self, node_id: str) -> NodeResult:
        return next(n for n in self.nodes if n.node_id == node_id)


class Abandoned(threading.Event):
    """Set once a run ended while nodes still run in its threads (an interrupt): they can be
    neither stopped nor waited for, so from then on they report and record nothing.

    `abandon()` sets it under a lock that a node also holds while it checks it and records the
    start of its execution (`unless_abandoned`). So an execution is either recorded before the
    run's end marks its unfinished executions FAILED (and is marked with them), or not at all:
    never RUNNING under a finished run."""

    def __init__(self) -> None:
        super().__init__()
        self._recording = threading.Lock()

    def abandon(self) -> None:
        """Sets it once no node is between its check and its record (unless_abandoned)."""
        with self._recording:
            self.set()

    @contextlib.contextmanager
    def unless_abandoned(self) -> Iterator[bool]:
        """Yields True while the run goes on, holding off `abandon()` until the block ends;
        False once it was abandoned."""
        with self._recording:
            yield not self.is_set()


class Progress:
    """Receives runner events. The default prints nothing; the CLI prints lines."""

    def node_started(self, index: int, total: int, node: Node, cached: bool) -> None: ...

    def node_message(self, node: Node, message: str) -> None: ...

    def node_finished(self, index: int, total: int, result: NodeResult) -> None: ...


def fingerprint_of(
    node: Node, input_fingerprints: Mapping[str, str], resolved: Mapping[str, Artifact | None]
) -> str:
    """The fingerprint of `node` given its inputs' fingerprints and its resolved inputs."""
    component = node.component
    source = component.source_fingerprint(node.config) if component.source_fingerprint else ""
    return node_fingerprint(
        component,
        node.config,
        input_fingerprints,
        source,
        {name: resolved_fingerprint(artifact) for name, artifact in resolved.items()},
    )


def compute_fingerprints(pipeline: Pipeline) -> dict[str, str]:
    """Node id -> fingerprint, for the whole DAG, without running anything, as if every resolved
    input found nothing (a first run). Forwarded outputs count as their input (as at run time);
    an output keyed by its content (Artifact.content_key: tune's best values) is known only once
    its producer ran, so it counts as its producer's fingerprint here."""
    fingerprints: dict[str, str] = {}
    # (node id, output) -> the content fingerprint downstream nodes key on (Component.forwards)
    content: dict[tuple[str, str], str] = {}
    for node in pipeline.nodes:
        inputs = {name: content[ref.node_id, ref.output] for name, ref in node.inputs.items()}
        fingerprint = fingerprint_of(node, inputs, dict.fromkeys(node.component.resolved))
        fingerprints[node.node_id] = fingerprint
        for output in node.component.outputs:
            source = node.component.forwards.get(output)
            content[node.node_id, output] = inputs[source] if source else fingerprint
    return fingerprints


def check_root_scheme(root: str) -> None:
    """ConfigError unless this TensorFlow can open the pipeline root's URL scheme (a local
    root always can; s3:// and hdfs:// need tensorflow-io). Without it an s3:// root failed
    with a traceback on its first access, after the run had started."""
    try:
        filesystem.check_scheme(root)
    except filesystem.UnsupportedSchemeError as exc:
        raise ConfigError(f"root: {exc}") from exc


def check_pipeline(pipeline: Pipeline) -> None:
    """Checks the root's URL scheme (check_root_scheme; config_file.check_root checked its
    spelling when the config was read), then runs every component's pre-run check
    (ConfigError on failure), before anything executes."""
    check_root_scheme(pipeline.root)
    for node in pipeline.nodes:
        if node.component.check is not None:
            node.component.check(node.config)


def _published_outputs(
    pipeline: Pipeline, node: Node, fingerprint: str, warn: bool = True
) -> dict[str, Artifact]:
    """The node's outputs published under `fingerprint`, or {} when one is absent or was
    damaged after publishing (a file deleted or resized: pipeline/artifact_manifest.py; an
    `artifact.json` that does not parse), or when the component's effects_gone lists something
    (a pushed version deleted since), so the node runs again instead of handing a broken
    artifact downstream. `warn`: log why a published output is not reused (the runner checks
    twice, before and after taking the node's lock, and says it once)."""
    say = log.warning if warn else log.debug
    found: dict[str, Artifact] = {}
    for output in node.component.outputs:
        uri = artifact_uri(pipeline.root, node.node_id, output, fingerprint)
        try:
            artifact = read_artifact(uri)
        except DamagedArtifact as exc:
            say(
                "%s: its cached %s output at %s is damaged: %s is %s; running the node again",
                node.node_id, output, uri, exc.descriptor, exc.problem,
            )  # fmt: skip
            return {}
        if artifact is None:
            return {}
        problems = damage(artifact.uri)
        if problems:
            say(
                "%s: its cached %s output at %s changed since it was written (%s); running "
                "the node again",
                node.node_id,
                output,
                artifact.uri,
                "; ".join(problems),
            )
            return {}
        found[output] = artifact
    gone = node.component.effects_gone(found) if node.component.effects_gone else []
    if gone:
        say(
            "%s: what its cached execution did outside the pipeline root is gone (%s); "
            "running the node again",
            node.node_id,
            "; ".join(gone),
        )
        return {}
    return found


def run_pipeline(
    pipeline: Pipeline,
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
    metadata: MetadataStore | None = None,
    max_parallel: int | None = None,
) -> RunResult:
    """Runs `pipeline` and returns what happened. Raises ConfigError before anything runs if a
    pre-run check fails, RootBusyError at once if another run holds a remote root, and
    ComponentFailed (after recording it) if a component raises.

    `max_parallel`: how many independent nodes may run at once (pipeline/scheduling.py);
    None takes `pipeline.max_parallel`, else the default (min(2, cores), or
    $SEQLINE_MAX_PARALLEL). A failed node's downstream nodes are skipped while independent
    nodes still run; then the first failure is raised. With more than one node at a time the
    `progress` methods are called from the nodes' threads, one call at a time."""
    requested = max_parallel if max_parallel is not None else pipeline.max_parallel
    limit = check_max_parallel(requested) if requested is not None else default_max_parallel()
    # Set when the run ends while nodes still run in threads (an interrupt).
    abandoned = Abandoned()
    progress = _Serialized(progress or Progress(), abandoned)
    if run_id is not None:
        check_run_id(run_id)
    check_pipeline(pipeline)
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    own_store = metadata is None
    store = metadata or MetadataStore(pipeline.metadata_url or default_metadata_url(pipeline.root))
    limit = effective_max_parallel(limit, store.url)
    # Local roots: per-node locks let concurrent runs share work. Remote roots cannot flock,
    # so a run leases the whole root (a second run fails at once, naming the holder).
    lease = filesystem.is_remote(pipeline.root)
    if lease:
        try:
            store.acquire_root(pipeline.root, run_id)
        except BaseException:
            if own_store:
                store.close()
            raise
    started = time.perf_counter()
    results = {n.node_id: NodeResult(n.node_id, n.component.name, "") for n in pipeline.nodes}
    positions = {n.node_id: index for index, n in enumerate(pipeline.nodes, start=1)}
    published: dict[str, dict[str, Artifact]] = {}
    artifact_ids: dict[str, int] = {}  # uri -> metadata id
    lock = threading.Lock()  # guards published and artifact_ids across node threads
    warmups = Warmups(
        list(pipeline.nodes), done=lambda node_id: node_id in published, enabled=limit > 1
    )

    def run_one(node: Node) -> None:
        with lock:
            inputs = {name: published[ref.node_id][ref.output] for name, ref in node.inputs.items()}
            input_ids = {name: artifact_ids[a.uri] for name, a in inputs.items()}
        ids: dict[str, int] = {}
        result = results[node.node_id]
        try:
            _run_node(
                pipeline, node, result, inputs, input_ids, run_id, progress, store,
                positions[node.node_id], ids, warmups=warmups, abandoned=abandoned,
            )  # fmt: skip
        except BaseException as exc:
            if result.status != "FAILED":  # failed before its executor ran (resolver, lock...)
                result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
            raise
        with lock:
            artifact_ids.update(ids)
            published[node.node_id] = result.outputs

    def skipped(node: Node, upstream: str) -> None:
        warmups.discard(node.node_id)
        results[node.node_id].error = f"not run: upstream node '{upstream}' did not succeed"
        progress.node_message(node, f"skipped: upstream node '{upstream}' did not succeed")

    status = "SUCCEEDED"
    # Held for the whole run on a local root, so `seqline gc` never deletes while it runs.
    in_use = contextlib.ExitStack()
    try:
        in_use.enter_context(
            root_in_use(pipeline.root, lambda: log.warning("waiting for seqline gc on the root"))
        )
        store.start_run(run_id, pipeline.name)
        try:
            failures = schedule(pipeline.nodes, run_one, limit, skipped)
            if failures:
                first = next(iter(failures.values()))
                for node_id, other in list(failures.items())[1:]:
                    first.add_note(f"node '{node_id}' failed too: {type(other).__name__}: {other}")
                raise first
        except BaseException as exc:
            status = "FAILED"
            _end_failed_run(store, pipeline, run_id, exc, abandoned)
            raise
        else:
            store.finish_run(run_id, status)
    finally:
        in_use.close()
        warmups.close_all()
        if lease:
            try:
                store.release_root(pipeline.root, run_id)
            except MetadataError as exc:  # the run's own outcome matters more
                log.warning("could not release the lease on %s: %s", pipeline.root, exc)
        if own_store:
            store.close()
    return RunResult(
        run_id=run_id,
        pipeline_name=pipeline.name,
        status=status,
        nodes=list(results.values()),
        seconds=time.perf_counter() - started,
        metadata_url=store.url,
    )


# What an operator sees when a failure could not be recorded (the store's disk is full...).
UNRECORDED_ADVICE = "`seqline runs` and `show` say RUNNING until the next run marks it CRASHED"


def _interruption(exc: BaseException) -> str:
    """What ended a run that did not fail by itself: "interrupted (Ctrl-C)", "interrupted
    (SIGTERM)" (seqline run's SIGTERM handler raises a KeyboardInterrupt saying so)."""
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted ({exc})" if str(exc) else "interrupted (Ctrl-C)"
    return f"{type(exc).__name__}: {exc}"


def _end_failed_run(
    store: MetadataStore,
    pipeline: Pipeline,
    run_id: str,
    exc: BaseException,
    abandoned: Abandoned,
) -> None:
    """Records run `run_id` FAILED because of `exc`, with every execution it left RUNNING.

    An interrupt (KeyboardInterrupt: Ctrl-C, or SIGTERM through seqline run) stops the
    scheduling while nodes may still run in other threads, which cannot be interrupted: they
    are abandoned (they record and report nothing more; the process normally exits now), their
    executions are FAILED as interrupted, and their scratch folders removed. A node that still
    finishes publishing is found cached by the next run. A failure of the store itself while
    recording this is added to `exc` as a note: `exc` says what ended the run."""
    interrupted = not isinstance(exc, Exception)
    if interrupted:
        abandoned.abandon()  # from now on no node records an execution it starts
    reason = _interruption(exc) if interrupted else f"{type(exc).__name__}: {exc}"
    if interrupted:
        unfinished = (
            f"{reason} while this node was running; run the pipeline again: the node runs "
            "again (or is reused, if it finished publishing after all)"
        )
    else:
        unfinished = f"the run ended ({reason}) before this node's end could be recorded"
    try:
        store.finish_run(run_id, "FAILED", error=reason, unfinished_error=unfinished)
    except MetadataError as also:
        if also is not exc and UNRECORDED_ADVICE not in str(exc):  # said once is enough
            add_line(exc, f"and the run could not be recorded: {also}; {UNRECORDED_ADVICE}")
    if interrupted:
        remove_own_scratch(pipeline.root, run_id, [node.node_id for node in pipeline.nodes])


def _run_node(
    pipeline: Pipeline,
    node: Node,
    result: NodeResult,
    inputs: dict[str, Artifact],
    input_ids: dict[str, int],
    run_id: str,
    progress: Progress,
    store: MetadataStore,
    index: int,
    artifact_ids: dict[str, int],
    total: int | None = None,
    warmups: Warmups | None = None,
    abandoned: Abandoned | None = None,
) -> None:
    """One node of a run: resolve, fingerprint, reuse the cache or execute under the node's
    lock, record. Fills `result` and `artifact_ids` (uri -> metadata id of its outputs).
    `index` of `total` is what progress shows (default: the node's place in the pipeline; a
    node run alone by node_run.py is 1 of 1). `warmups`: the run's prestarted nodes
    (pipeline/prestart.py); None runs without (node_run.py). `abandoned`: set once the run
    ended without this node (interrupted); the node then records nothing more."""
    warmups = warmups or no_warmups()
    abandoned = abandoned or Abandoned()
    query = ResolverQuery(store, pipeline.name, pipeline.root, node.node_id, node.config, inputs)
    resolved = resolve_inputs(node.component.resolved, query)
    input_ids = {**input_ids, **_resolved_ids(store, resolved)}
    result.fingerprint = fingerprint_of(
        node, {name: a.content_fingerprint for name, a in inputs.items()}, resolved
    )
    cached = _published_outputs(pipeline, node, result.fingerprint)
    total = len(pipeline.nodes) if total is None else total
    progress.node_started(index, total, node, bool(cached))
    t0 = time.perf_counter()
    if not cached:

        def say_waiting(holder: Holder | None) -> None:
            who = holder.describe() if holder else "another run"
            progress.node_message(node, f"waiting for {who}, which is executing it")

        with node_lock(pipeline.root, node.node_id, result.fingerprint, run_id, say_waiting):
            # Another run may have published it while we resolved or waited (why the first
            # look found nothing usable was logged then).
            cached = _published_outputs(pipeline, node, result.fingerprint, warn=False)
            if not cached:
                execution_id = _execute_recorded(
                    pipeline, node, result, inputs, resolved, input_ids, run_id, progress,
                    store, index, t0, warmups, abandoned,
                    resolution_notes(node.component.resolved, query, resolved),
                )  # fmt: skip
                if execution_id is None or abandoned.is_set():
                    return  # its run was interrupted (and recorded it FAILED if it started)
                # Recorded while holding the lock, so a run waiting for this node finds the
                # artifacts in the metadata store when it reuses them.
                try:
                    _record_outputs(store, execution_id, node, result, t0, artifact_ids)
                except MetadataError as exc:  # published, but the store failed (locked...)
                    result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
                    progress.node_finished(index, total, result)
                    raise
    if cached:
        with abandoned.unless_abandoned() as going_on:
            if not going_on:
                return  # its run ended: a finished run gets no more executions
            artifact_ids.update(
                store.record_cached_execution(
                    run_id, node.node_id, node.component.name, result.fingerprint, input_ids, cached
                )
            )
        warmups.discard(node.node_id)
        result.status, result.outputs = "CACHED", cached
        result.summary = {"cached": True}
        result.seconds = time.perf_counter() - t0
    progress.node_finished(index, total, result)


class _Serialized(Progress):
    """Forwards to a Progress one call at a time: nodes running in parallel report from their
    own threads, and neither PrintProgress nor a user's Progress has to be thread-safe."""

    def __init__(self, inner: Progress, abandoned: threading.Event | None = None) -> None:
        self.inner = inner
        self._lock = threading.RLock()
        # Set when the run was interrupted: nodes left running in threads say nothing more.
        self._abandoned = abandoned or threading.Event()

    def node_started(self, index: int, total: int, node: Node, cached: bool) -> None:
        with self._lock:
            if not self._abandoned.is_set():
                self.inner.node_started(index, total, node, cached)

    def node_message(self, node: Node, message: str) -> None:
        with self._lock:
            if not self._abandoned.is_set():
                self.inner.node_message(node, message)

    def node_finished(self, index: int, total: int, result: NodeResult) -> None:
        with self._lock:
            if not self._abandoned.is_set():
                self.inner.node_finished(index, total, result)


def _record_outputs(
    store: MetadataStore,
    execution_id: int,
    node: Node,
    result: NodeResult,
    t0: float,
    artifact_ids: dict[str, int],
) -> None:
    """Registers the node's outputs and finishes its execution record."""
    result.seconds = time.perf_counter() - t0
    for output, artifact in result.outputs.items():
        artifact_ids[artifact.uri] = store.record_output(
            execution_id,
            output,
            uri=artifact.uri,
            type_name=artifact.type_name,
            fingerprint=artifact.fingerprint,
            node_id=node.node_id,
            properties=artifact.properties,
            created_at=artifact.created,
        )
    store.finish_execution(execution_id, result.status, summary=result.summary)


def _resolved_ids(store: MetadataStore, resolved: Mapping[str, Artifact | None]) -> dict[str, int]:
    """Metadata ids of the resolved artifacts (which came from the store, so they have one)."""
    ids = {}
    for name, artifact in resolved.items():
        record = store.artifact_by_uri(artifact.uri) if artifact is not None else None
        if record is not None:
            ids[name] = record.id
    return ids


def _execute_recorded(
    pipeline: Pipeline,
    node: Node,
    result: NodeResult,
    inputs: dict[str, Artifact],
    resolved: dict[str, Artifact | None],
    input_ids: dict[str, int],
    run_id: str,
    progress: Progress,
    store: MetadataStore,
    index: int,
    t0: float,
    warmups: Warmups,
    abandoned: Abandoned | None = None,
    notes: Mapping[str, str] | None = None,
) -> int | None:
    """Executes `node` (pipeline/execution.py), recording the execution; fills `result` and
    returns the execution's id. On failure records it, reports it, and raises
    (ComponentFailed for non-seqline errors). Once `abandoned` is set (the run was interrupted
    meanwhile) nothing is recorded; set before the execution was recorded, the node does not
    run at all and None is returned."""
    abandoned = abandoned or Abandoned()
    with abandoned.unless_abandoned() as going_on:
        if not going_on:
            return None  # its run already ended and marked what it left running FAILED
        execution_id = store.start_execution(
            run_id, node.node_id, node.component.name, result.fingerprint, input_ids
        )
    run = NodeExecution(
        component=node.component,
        config=node.config,
        node_id=node.node_id,
        inputs=inputs,
        resolved=resolved,
        fingerprint=result.fingerprint,
        pipeline_name=pipeline.name,
        pipeline_root=pipeline.root,
        run_id=run_id,
        beam_args=tuple(pipeline.beam_args),
        progress=_message_sink(progress, node),
        metadata=store,
        finishing=lambda: warmups.finishing(node),
        prestarted=warmups.claim(node.node_id),
        resolved_notes=dict(notes or {}),
    )
    try:
        result.outputs, result.summary = execute(run)
    except BaseException as exc:
        result.status = "FAILED"
        result.seconds = time.perf_counter() - t0
        result.error = f"{type(exc).__name__}: {exc}"
        if abandoned.is_set():
            raise  # the run recorded it as interrupted; this may be its teardown's error
        unrecorded = None
        try:
            store.finish_execution(execution_id, "FAILED", error=traceback.format_exc(limit=20))
        except MetadataError as also:  # e.g. a full disk: the node's own error comes first
            unrecorded = f"and it could not be recorded: {also}; {UNRECORDED_ADVICE}"
        progress.node_finished(index, len(pipeline.nodes), result)
        if isinstance(exc, SeqlineError | KeyboardInterrupt):
            if unrecorded:
                add_line(exc, unrecorded)
            raise
        failed = ComponentFailed(node.node_id, exc)
        # The CLI prints the message: say there where the failed outputs are (or why they
        # could not be kept), and that the failure is not recorded.
        for line in (failed_outputs_line(exc), unrecorded):
            if line:
                add_line(failed, line)
        raise failed from exc
    finally:
        # The executor owns a prestarted handle, but may fail before it takes charge of it
        # (output set-up, a wrong input type): close it here too; closing twice is harmless.
        close_handle(node.node_id, run.prestarted)
    result.status = "COMPLETE"
    return execution_id


def _message_sink(progress: Progress, node: Node) -> Callable[[str], None]:
    def sink(message: str) -> None:
        log.info("%s: %s", node.node_id, message)
        progress.node_message(node, message)

    return sink
