"""Run one component in a test exactly as the runner runs it.

    from seqline.pipeline.harness import input_artifact, run_component

    def test_scrub(tmp_path):
        examples = input_artifact("Examples", str(tmp_path / "examples"), splits=["train"])
        result = run_component(COMPONENT, {"patterns": ["email"]}, {"examples": examples},
                               root=tmp_path / "root")
        assert result.summary["scrubbed"] == 3
        assert result.outputs["examples"].properties["splits"] == ["train"]

The harness validates the config like YAML does, checks the inputs' names and types like the
DAG does, runs the component's pre-run check, fingerprints it, and executes it through
pipeline/execution.py: the same temporaries, the same fully built ExecutionContext, the same
atomic publish to `{root}/{node}/{output}/{fingerprint}/`, and on failure the same
`{root}/_failed/{run}/{node}/` folder. Like the runner, it reuses outputs already published
for the same fingerprint (`result.cached`). Resolved inputs are given explicitly (`resolved=`),
None for each one not given (a first run). seqline's own tests and out-of-tree components'
tests use it alike; it needs no metadata store and no TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.artifact import Artifact, artifact_uri, read_artifact
from seqline.pipeline.component import Component
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import WiringError
from seqline.pipeline.execution import (
    NodeExecution,
    execute,
    failed_outputs_dir,
    make_artifact,
)
from seqline.pipeline.fingerprint import node_fingerprint
from seqline.pipeline.resolvers import resolved_fingerprint


@dataclass
class ComponentRun:
    """What run_component did.

    Attributes:
        outputs: output name -> published Artifact.
        summary: the executor's summary ({} when cached).
        fingerprint: the execution's fingerprint.
        run_id, node_id, root: where it ran; failed outputs would be in `failed_dir`.
        cached: True if the outputs were already published and nothing ran.
        messages: the progress messages the executor sent.
    """

    outputs: dict[str, Artifact]
    summary: dict[str, Any]
    fingerprint: str
    run_id: str
    node_id: str
    root: str
    cached: bool = False
    messages: list[str] = field(default_factory=list)

    @property
    def failed_dir(self) -> str:
        return failed_outputs_dir(self.root, self.run_id, self.node_id)


def input_artifact(
    type_name: str, uri: str | os.PathLike[str], fingerprint: str = "", **properties: Any
) -> Artifact:
    """A hand-made input artifact over an existing directory (its fingerprint defaults to a
    hash of the path, so different inputs give different fingerprints)."""
    uri = os.fspath(uri)
    fingerprint = fingerprint or hashlib.sha256(uri.encode()).hexdigest()[:20]
    producer = {"node_id": "test", "component": "test", "run_id": "test"}
    artifact = make_artifact(type_name, uri, fingerprint, producer)
    artifact.properties.update(properties)
    artifact.created = time.time()
    return artifact


def _config(component: Component, config: Any, node_id: str) -> Any:
    if isinstance(config, component.config_type):
        return config
    return build_dataclass(component.config_type, dict(config or {}), f"components.{node_id}")


def _accepts(expected: str, produced: str) -> bool:
    """Whether an input declared as `expected` takes a `produced` artifact: the DAG's rule."""
    try:
        from seqline.pipeline.artifacts import accepts  # typed artifacts (subtypes accepted)
    except ImportError:
        return expected == produced
    return bool(accepts(expected, produced))


def _check_inputs(component: Component, node_id: str, inputs: Mapping[str, Artifact]) -> None:
    declared = set(component.inputs)
    optional = set(getattr(component, "optional", ()))
    if not declared - optional <= set(inputs) <= declared:
        raise WiringError(
            f"node '{node_id}' ({component.name}) expects inputs {sorted(declared - optional)}"
            + (f" (optional: {sorted(optional)})" if optional else "")
            + f", got {sorted(inputs)}"
        )
    for name, artifact in inputs.items():
        if not _accepts(component.inputs[name], artifact.type_name):
            raise WiringError(
                f"node '{node_id}' input '{name}' expects a {component.inputs[name]}, got a "
                f"{artifact.type_name} ({artifact.uri})"
            )


def run_component(
    component: Component,
    config: Any = None,
    inputs: Mapping[str, Artifact] | None = None,
    *,
    root: str | os.PathLike[str],
    resolved: Mapping[str, Artifact | None] | None = None,
    node_id: str | None = None,
    pipeline_name: str = "test",
    run_id: str | None = None,
    beam_args: tuple[str, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> ComponentRun:
    """Runs `component` once, as the runner would, under pipeline root `root`.

    Args:
        config: the config dataclass, or a mapping of its fields (validated like YAML), or
            None for the defaults.
        inputs: wired input name -> Artifact (see input_artifact, or a previous run's outputs).
        resolved: resolved input name -> Artifact or None; undeclared names are an error.
        node_id: defaults to the component's name. run_id defaults to a fresh one.

    Raises whatever the executor raises (after keeping its outputs under `_failed/`).
    """
    node_id = node_id or component.name
    root = os.path.abspath(os.fspath(root)) if "://" not in os.fspath(root) else os.fspath(root)
    run_id = run_id or f"test-{uuid.uuid4().hex[:8]}"
    config = _config(component, config, node_id)
    inputs = dict(inputs or {})
    _check_inputs(component, node_id, inputs)
    unknown = sorted(set(resolved or {}) - set(component.resolved))
    if unknown:
        raise WiringError(
            f"node '{node_id}' ({component.name}) resolves {sorted(component.resolved)}, got "
            f"also {unknown}"
        )
    resolved_inputs = {name: (resolved or {}).get(name) for name in component.resolved}
    if component.check is not None:
        component.check(config)
    source = component.source_fingerprint(config) if component.source_fingerprint else ""
    fingerprint = node_fingerprint(
        component,
        config,
        {name: a.content_fingerprint for name, a in inputs.items()},
        source,
        {name: resolved_fingerprint(a) for name, a in resolved_inputs.items()},
    )
    result = ComponentRun({}, {}, fingerprint, run_id, node_id, root)
    published = {
        name: read_artifact(artifact_uri(root, node_id, name, fingerprint))
        for name in component.outputs
    }
    if all(a is not None for a in published.values()):
        result.outputs = {k: v for k, v in published.items() if v is not None}
        result.cached = True
        return result

    def sink(message: str) -> None:
        result.messages.append(message)
        if progress is not None:
            progress(message)

    result.outputs, result.summary = execute(
        NodeExecution(
            component=component,
            config=config,
            node_id=node_id,
            inputs=inputs,
            resolved=resolved_inputs,
            fingerprint=fingerprint,
            pipeline_name=pipeline_name,
            pipeline_root=root,
            run_id=run_id,
            beam_args=tuple(beam_args),
            progress=sink,
        )
    )
    return result


__all__ = ["ComponentRun", "input_artifact", "run_component"]
