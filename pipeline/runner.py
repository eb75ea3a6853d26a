"""Runs a Pipeline: pre-run checks, fingerprints, cache, atomic publish, metadata, progress.

For each node in topological order:
  0. resolve its resolved inputs (the last blessed model...) from the metadata store
     (pipeline/resolvers.py);
  1. fingerprint = hash(component name and version, its code's import closure, library
     versions, config, input and resolved-input fingerprints, outside-data identity; see
     pipeline/fingerprint.py);
  2. if every output `{root}/{node}/{output}/{fingerprint}/artifact.json` exists -> CACHED;
  3. else run the executor into temporary siblings `.tmp-{fingerprint}-{uuid}`, write each
     artifact.json last, rename into place. A run killed at any point leaves only `.tmp-*`
     directories, which are never read and are removed by the next run of that node.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline import filesystem
from seqline.pipeline.artifact import Artifact, artifact_uri, read_artifact, write_descriptor
from seqline.pipeline.component import ExecutionContext
from seqline.pipeline.dag import Node, Pipeline
from seqline.pipeline.errors import ComponentFailed, SeqlineError
from seqline.pipeline.fingerprint import node_fingerprint
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.resolvers import ResolverQuery, resolve_inputs, resolved_fingerprint

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"


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
    input found nothing (a first run)."""
    fingerprints: dict[str, str] = {}
    for node in pipeline.nodes:
        fingerprints[node.node_id] = fingerprint_of(
            node,
            {name: fingerprints[ref.node_id] for name, ref in node.inputs.items()},
            dict.fromkeys(node.component.resolved),
        )
    return fingerprints


def check_pipeline(pipeline: Pipeline) -> None:
    """Runs every component's pre-run check (ConfigError on failure) before anything executes."""
    for node in pipeline.nodes:
        if node.component.check is not None:
            node.component.check(node.config)


def _published_outputs(pipeline: Pipeline, node: Node, fingerprint: str) -> dict[str, Artifact]:
    found: dict[str, Artifact] = {}
    for output in node.component.outputs:
        artifact = read_artifact(artifact_uri(pipeline.root, node.node_id, output, fingerprint))
        if artifact is None:
            return {}
        found[output] = artifact
    return found


def _remove_stale_temporaries(parent: str, fingerprint: str) -> None:
    if not filesystem.exists(parent):
        return
    for name in filesystem.listdir(parent):
        if name.startswith(f"{TEMP_PREFIX}{fingerprint}-"):
            filesystem.rmtree(filesystem.join(parent, name))


def run_pipeline(
    pipeline: Pipeline,
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
    metadata: MetadataStore | None = None,
) -> RunResult:
    """Runs `pipeline` and returns what happened. Raises ConfigError before anything runs if a
    pre-run check fails, and ComponentFailed (after recording it) if a component raises."""
    progress = progress or Progress()
    check_pipeline(pipeline)
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    own_store = metadata is None
    store = metadata or MetadataStore(pipeline.metadata_url or default_metadata_url(pipeline.root))
    started = time.perf_counter()
    results = [NodeResult(n.node_id, n.component.name, "") for n in pipeline.nodes]
    published: dict[str, dict[str, Artifact]] = {}
    artifact_ids: dict[str, int] = {}  # uri -> metadata id
    store.start_run(run_id, pipeline.name)
    status = "SUCCEEDED"
    try:
        for index, (node, result) in enumerate(zip(pipeline.nodes, results, strict=True), start=1):
            inputs = {name: published[ref.node_id][ref.output] for name, ref in node.inputs.items()}
            input_ids = {name: artifact_ids[a.uri] for name, a in inputs.items()}
            query = ResolverQuery(
                store, pipeline.name, pipeline.root, node.node_id, node.config, inputs
            )
            resolved = resolve_inputs(node.component.resolved, query)
            input_ids.update(_resolved_ids(store, resolved))
            result.fingerprint = fingerprint_of(
                node, {name: a.fingerprint for name, a in inputs.items()}, resolved
            )
            cached = _published_outputs(pipeline, node, result.fingerprint)
            progress.node_started(index, len(pipeline.nodes), node, bool(cached))
            t0 = time.perf_counter()
            if cached:
                execution_id = store.start_execution(
                    run_id,
                    node.node_id,
                    node.component.name,
                    result.fingerprint,
                    input_ids,
                    status="CACHED",
                )
                result.status, result.outputs = "CACHED", cached
                result.summary = {"cached": True}
            else:
                execution_id = store.start_execution(
                    run_id, node.node_id, node.component.name, result.fingerprint, input_ids
                )
                try:
                    result.outputs, result.summary = _execute(
                        pipeline,
                        node,
                        result.fingerprint,
                        inputs,
                        resolved,
                        run_id,
                        progress,
                        store,
                    )
                except BaseException as exc:
                    result.status = "FAILED"
                    result.seconds = time.perf_counter() - t0
                    result.error = f"{type(exc).__name__}: {exc}"
                    store.finish_execution(
                        execution_id, "FAILED", error=traceback.format_exc(limit=20)
                    )
                    progress.node_finished(index, len(pipeline.nodes), result)
                    if isinstance(exc, SeqlineError | KeyboardInterrupt):
                        raise
                    raise ComponentFailed(node.node_id, exc) from exc
                result.status = "COMPLETE"
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
            published[node.node_id] = result.outputs
            progress.node_finished(index, len(pipeline.nodes), result)
    except BaseException as exc:
        status = "FAILED"
        store.finish_run(run_id, status, error=f"{type(exc).__name__}: {exc}")
        if own_store:
            store.close()
        raise
    store.finish_run(run_id, status)
    if own_store:
        store.close()
    return RunResult(
        run_id=run_id,
        pipeline_name=pipeline.name,
        status=status,
        nodes=results,
        seconds=time.perf_counter() - started,
        metadata_url=store.url,
    )


def _resolved_ids(store: MetadataStore, resolved: Mapping[str, Artifact | None]) -> dict[str, int]:
    """Metadata ids of the resolved artifacts (which came from the store, so they have one)."""
    ids = {}
    for name, artifact in resolved.items():
        record = store.artifact_by_uri(artifact.uri) if artifact is not None else None
        if record is not None:
            ids[name] = record.id
    return ids


def _execute(
    pipeline: Pipeline,
    node: Node,
    fingerprint: str,
    inputs: dict[str, Artifact],
    resolved: dict[str, Artifact | None],
    run_id: str,
    progress: Progress,
    store: MetadataStore,
) -> tuple[dict[str, Artifact], dict[str, Any]]:
    """Runs one executor into temporary directories and publishes its outputs atomically."""
    component = node.component
    producer = {"node_id": node.node_id, "component": component.name, "run_id": run_id}
    temporaries: dict[str, str] = {}
    finals: dict[str, str] = {}
    for output in component.outputs:
        final = artifact_uri(pipeline.root, node.node_id, output, fingerprint)
        parent = final.rsplit("/", 1)[0]
        _remove_stale_temporaries(parent, fingerprint)
        temporary = filesystem.join(parent, f"{TEMP_PREFIX}{fingerprint}-{uuid.uuid4().hex[:8]}")
        filesystem.makedirs(temporary)
        temporaries[output], finals[output] = temporary, final
    outputs = {
        name: Artifact(type_name, temporaries[name], fingerprint, dict(producer))
        for name, type_name in component.outputs.items()
    }
    scratch = filesystem.join(pipeline.root, "_tmp", f"{node.node_id}-{uuid.uuid4().hex[:8]}")
    filesystem.makedirs(scratch)
    context = ExecutionContext(
        config=node.config,
        inputs=inputs,
        outputs=outputs,
        pipeline_name=pipeline.name,
        run_id=run_id,
        node_id=node.node_id,
        pipeline_root=pipeline.root,
        beam_args=tuple(pipeline.beam_args),
        temp_dir=scratch,
        progress=_message_sink(progress, node),
        metadata=store,
        resolved=resolved,
    )
    try:
        summary = dict(component.executor(context) or {})
    except BaseException:
        for temporary in temporaries.values():
            filesystem.rmtree(temporary)
        raise
    finally:
        filesystem.rmtree(scratch)
    for name, artifact in outputs.items():
        artifact.uri = finals[name]
        write_descriptor(artifact, temporaries[name])
        if filesystem.exists(finals[name]):
            # A directory without a complete descriptor from a crashed publish of this same
            # fingerprint (only possible on object stores): never trusted, replaced.
            filesystem.rmtree(finals[name])
        filesystem.rename(temporaries[name], finals[name])
    return outputs, summary


def _message_sink(progress: Progress, node: Node) -> Callable[[str], None]:
    def sink(message: str) -> None:
        log.info("%s: %s", node.node_id, message)
        progress.node_message(node, message)

    return sink
