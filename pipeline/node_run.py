"""Runs one node of a pipeline on its own, as one task of an orchestrated run.

`seqline run CONFIG --node NODE --run-id ID` (what an Airflow task or a KFP container runs):

  1. the node's wired inputs are its upstream nodes' published outputs: those this run id
     already recorded (COMPLETE or CACHED) are taken from the metadata store; otherwise the
     upstream's fingerprint is computed from the DAG above it as the local runner would (its
     inputs' fingerprints + what its resolvers find now) and its outputs are read from the
     cache, `{root}/{node}/{output}/{fingerprint}/`;
  2. a missing upstream output is an UpstreamMissing error naming the node and output, the
     first ancestor that has to run, and the command that runs it;
  3. its resolved inputs (the last blessed model...) come from the metadata store, as in a
     local run, then the node is fingerprinted, found CACHED or executed under its lock
     (pipeline/locking.py) and recorded in the metadata store under the run id.

Every node execution of one orchestrated run shares the run id, so `seqline show ID` lists
them together. The run record is created by the first node that runs. Each node run that
finishes sets the run's status from the newest execution of every node so far: FAILED while
some node's newest execution failed, else SUCCEEDED. So an orchestrator's retry that succeeds
under the same run id clears the failure, and the run's end time is the last node's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from seqline.pipeline.artifact import Artifact, read_artifact
from seqline.pipeline.dag import Node, Pipeline
from seqline.pipeline.errors import ConfigError, SeqlineError
from seqline.pipeline.execution import check_run_id
from seqline.pipeline.metadata import (
    ExecutionRecord,
    MetadataStore,
    RunExistsError,
    default_metadata_url,
)
from seqline.pipeline.resolvers import ResolverQuery, resolve_inputs
from seqline.pipeline.root_lock import root_in_use
from seqline.pipeline.runner import (
    NodeResult,
    Progress,
    _published_outputs,
    _run_node,
    check_root_scheme,
    fingerprint_of,
)

# Statuses of an execution whose outputs a later node of the same run may read.
_DONE = ("COMPLETE", "CACHED")
# Statuses of a node's newest execution that make its run FAILED (RUNNING: still going).
_FAILING = ("FAILED", "CRASHED")


class UpstreamMissing(SeqlineError):
    """A node's upstream output is not published for this run's inputs."""


@dataclass(frozen=True)
class Upstream:
    """An ancestor's published outputs and fingerprint, and where they were found."""

    fingerprint: str
    outputs: Mapping[str, Artifact]
    source: str  # "run" (recorded under this run id) or "cache"


def ancestors(pipeline: Pipeline, node_id: str) -> list[Node]:
    """The nodes `node_id` depends on, directly or not, in topological order."""
    needed: set[str] = set()
    frontier = [pipeline.node(node_id)]
    while frontier:
        node = frontier.pop()
        for ref in node.inputs.values():
            if ref.node_id not in needed:
                needed.add(ref.node_id)
                frontier.append(pipeline.node(ref.node_id))
    return [n for n in pipeline.nodes if n.node_id in needed]


def _recorded_in_run(store: MetadataStore, run_id: str, node: Node) -> Upstream | None:
    """The outputs this run already recorded for `node` (newest execution), if all are on disk."""
    done = [e for e in store.executions(run_id) if e.node_id == node.node_id and e.status in _DONE]
    if not done:
        return None
    execution = done[-1]
    outputs: dict[str, Artifact] = {}
    for name, record in store.artifacts_of(execution.id, "output"):
        artifact = read_artifact(record.uri)
        if artifact is None:
            return None
        outputs[name] = artifact
    if set(outputs) != set(node.component.outputs):
        return None
    return Upstream(execution.fingerprint, outputs, "run")


def _how_to_run(config_hint: str, node_id: str, run_id: str) -> str:
    return f"`seqline run {config_hint} --node {node_id} --run-id {run_id}`"


def find_upstreams(
    pipeline: Pipeline,
    node_id: str,
    run_id: str,
    store: MetadataStore,
    config_hint: str = "CONFIG",
) -> dict[str, Upstream]:
    """Upstream node id -> its published outputs, for the wired inputs of `node_id` in run
    `run_id`. An upstream this run recorded is taken as is; otherwise its fingerprint is
    computed from its own upstreams (recursively) and its outputs read from the cache.

    Raises UpstreamMissing naming the earliest ancestor whose outputs are not published, the
    input of `node_id` that waits for it, and the command that produces it.
    """
    found: dict[str, Upstream] = {}
    target = pipeline.node(node_id)

    def published(node: Node) -> Upstream:
        if node.node_id in found:
            return found[node.node_id]
        upstream = _recorded_in_run(store, run_id, node)
        if upstream is None:
            inputs = {
                name: published(pipeline.node(ref.node_id)).outputs[ref.output]
                for name, ref in node.inputs.items()
            }
            query = ResolverQuery(
                store, pipeline.name, pipeline.root, node.node_id, node.config, inputs
            )
            resolved = resolve_inputs(node.component.resolved, query)
            fingerprint = fingerprint_of(
                node, {name: a.content_fingerprint for name, a in inputs.items()}, resolved
            )
            outputs = _published_outputs(pipeline, node, fingerprint)
            if not outputs:
                raise _missing(pipeline, target, node, fingerprint, run_id, config_hint)
            upstream = Upstream(fingerprint, outputs, "cache")
        found[node.node_id] = upstream
        return upstream

    for ref in target.inputs.values():
        published(pipeline.node(ref.node_id))
    return found


def _missing(
    pipeline: Pipeline, target: Node, absent: Node, fingerprint: str, run_id: str, hint: str
) -> UpstreamMissing:
    waiting = [
        f"{name} <- {ref.node_id}.{ref.output}"
        for name, ref in target.inputs.items()
        if ref.node_id == absent.node_id
        or absent.node_id in {n.node_id for n in ancestors(pipeline, ref.node_id)}
    ]
    outputs = ", ".join(f"{absent.node_id}.{o}" for o in absent.component.outputs)
    return UpstreamMissing(
        f"node '{target.node_id}' cannot run: upstream output(s) {outputs} are not published "
        f"for this run's inputs (run {run_id} recorded none, and nothing is cached at "
        f"{pipeline.root}/{absent.node_id}/*/{fingerprint}); its input(s) "
        f"{', '.join(waiting)} wait for them. Run {_how_to_run(hint, absent.node_id, run_id)} "
        f"first (and the nodes after it), or the whole pipeline with `seqline run {hint}`"
    )


def join_run(store: MetadataStore, run_id: str, pipeline_name: str) -> None:
    """Creates run `run_id` unless a node of it already did (tasks may start at once)."""
    try:
        existing = store.run(run_id)
    except SeqlineError:
        try:
            store.start_run(run_id, pipeline_name)
        except RunExistsError:
            return  # another task of the same run created it meanwhile
        return
    if existing["pipeline_name"] != pipeline_name:
        raise ConfigError(
            f"--run-id {run_id}: that run belongs to pipeline '{existing['pipeline_name']}', "
            f"not '{pipeline_name}'; give each orchestrated run of each pipeline its own id"
        )


def run_node(
    pipeline: Pipeline,
    node_id: str,
    run_id: str,
    *,
    progress: Progress | None = None,
    metadata: MetadataStore | None = None,
    config_hint: str = "CONFIG",
) -> NodeResult:
    """Runs node `node_id` of `pipeline` as part of run `run_id` and returns what happened
    (status CACHED or COMPLETE). Raises ConfigError for an unknown node or a failed pre-run
    check, UpstreamMissing before anything runs, and ComponentFailed (after recording it) if
    the component raises. `config_hint` is the config path used in error messages."""
    try:
        node = pipeline.node(node_id)
    except KeyError:
        raise ConfigError(
            f"--node {node_id}: no such node in pipeline '{pipeline.name}'; its nodes are "
            f"{[n.node_id for n in pipeline.nodes]}"
        ) from None
    check_run_id(run_id)
    check_root_scheme(pipeline.root)
    if node.component.check is not None:
        node.component.check(node.config)
    progress = _OneOfOne(progress or Progress())
    own_store = metadata is None
    store = metadata or MetadataStore(pipeline.metadata_url or default_metadata_url(pipeline.root))
    result = NodeResult(node.node_id, node.component.name, "")
    try:
        # Held while the node runs on a local root, so `seqline gc` never deletes meanwhile.
        with root_in_use(pipeline.root, lambda: progress.node_message(node, "waiting for gc")):
            upstreams = find_upstreams(pipeline, node_id, run_id, store, config_hint)
            join_run(store, run_id, pipeline.name)
            before = _newest_id(store, run_id, node_id)
            try:
                _run(pipeline, node, run_id, upstreams, store, progress, result)
            except BaseException as exc:
                try:
                    _record_failure(store, run_id, node, result.fingerprint, before, exc)
                except Exception as also:  # the store itself failing: say the node's error
                    exc.add_note(f"(recording the failure in the metadata store failed: {also})")
                raise
            _finish_run(store, run_id)
    finally:
        if own_store:
            store.close()
    return result


def _record_failure(
    store: MetadataStore,
    run_id: str,
    node: Node,
    fingerprint: str,
    before: int | None,
    exc: BaseException,
) -> None:
    error = f"{node.node_id}: {type(exc).__name__}: {exc}"
    if _newest_id(store, run_id, node.node_id) == before:
        # Failed before an execution was recorded (a resolver, the lock, an interrupt):
        # record one, so the run's status sees this node failing until it succeeds.
        failed = store.start_execution(
            run_id, node.node_id, node.component.name, fingerprint, {}, status="FAILED"
        )
        store.finish_execution(failed, "FAILED", error=error)
    _finish_run(store, run_id, error)


def _newest_id(store: MetadataStore, run_id: str, node_id: str) -> int | None:
    ids = [e.id for e in store.executions(run_id) if e.node_id == node_id]
    return max(ids, default=None)


def run_status(executions: Sequence[ExecutionRecord]) -> tuple[str, list[str]]:
    """("FAILED", the failing node ids) while the newest of `executions` (a run's, oldest
    first) of some node failed or crashed, else ("SUCCEEDED", []): a node whose newest
    execution is COMPLETE or CACHED (an orchestrator's retry that succeeded) is not failing."""
    newest: dict[str, ExecutionRecord] = {}
    for execution in executions:
        newest[execution.node_id] = execution
    failing = [node_id for node_id, e in newest.items() if e.status in _FAILING]
    return ("FAILED" if failing else "SUCCEEDED"), failing


def _finish_run(store: MetadataStore, run_id: str, error: str | None = None) -> None:
    """Sets run `run_id`'s status from its nodes' newest executions (run_status) and its end
    time to now, under the run's lock (MetadataStore.settle_run: parallel tasks finishing
    together cannot overwrite each other's verdict). `error`: this node's failure; a run
    that stays FAILED because of other nodes keeps their error, or names them."""

    def decide(executions: list[ExecutionRecord], previous: str | None) -> tuple[str, str | None]:
        status, failing = run_status(executions)
        if status != "FAILED":
            return status, None
        if error is not None:
            return status, error
        if previous and any(previous.startswith(f"{node_id}: ") for node_id in failing):
            return status, previous
        return status, f"node(s) {failing} failed; `seqline show {run_id}` shows their errors"

    store.settle_run(run_id, decide)


class _OneOfOne(Progress):
    """Reports the node as 1 of 1 however the runner counts it: a node run is the only node
    of its process (the runner's failure report counted the whole pipeline: [1/9])."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner

    def node_started(self, index: int, total: int, node: Node, cached: bool) -> None:
        self.inner.node_started(1, 1, node, cached)

    def node_message(self, node: Node, message: str) -> None:
        self.inner.node_message(node, message)

    def node_finished(self, index: int, total: int, result: NodeResult) -> None:
        self.inner.node_finished(1, 1, result)


def _run(
    pipeline: Pipeline,
    node: Node,
    run_id: str,
    upstreams: Mapping[str, Upstream],
    store: MetadataStore,
    progress: Progress,
    result: NodeResult,
) -> None:
    inputs = {name: upstreams[ref.node_id].outputs[ref.output] for name, ref in node.inputs.items()}
    input_ids: dict[str, int] = {}
    for name, artifact in inputs.items():
        record = store.artifact_by_uri(artifact.uri)
        if record is not None:  # published by a run recorded in this store
            input_ids[name] = record.id
    _run_node(pipeline, node, result, inputs, input_ids, run_id, progress, store, 1, {}, total=1)
