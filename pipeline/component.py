"""The component contract.

A component is one folder under components/, named by its verb, whose `component.py` defines a
module-level `COMPONENT = Component(...)`: its typed inputs and outputs, its one frozen config
dataclass, and an executor. The executor is a thin shell: it reads input artifacts, calls pure
functions or one composite PTransform, writes into the output directories it is given, fills
output properties, and returns a small JSON-able summary. It imports TensorFlow/Beam inside the
function body so that building, validating and cache-checking a pipeline stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqline.pipeline.artifact import Artifact
    from seqline.pipeline.resolvers import Resolver


@dataclass
class ExecutionContext:
    """What an executor receives.

    Attributes:
        config: the component's frozen config dataclass instance.
        inputs: input name -> published upstream Artifact (read-only).
        outputs: output name -> Artifact whose `uri` is a fresh temporary directory to write
            into; set `properties` on it. The runner publishes it atomically on success.
        pipeline_name, run_id, node_id: identity of this execution.
        pipeline_root: root of all artifacts of this pipeline.
        beam_args: extra Beam pipeline arguments (runner, workers...) from the pipeline config.
        temp_dir: scratch directory for this execution, deleted afterwards.
        progress: call with a short message to show progress on long work.
        metadata: read-only access to the metadata store (for baselines), or None in tests.
        resolved: resolved input name -> the Artifact the runner resolved for it (see
            pipeline/resolvers.py), or None when there is none (first run).
    """

    config: Any
    inputs: Mapping[str, Artifact]
    outputs: Mapping[str, Artifact]
    pipeline_name: str = "test"
    run_id: str = "test-run"
    node_id: str = ""
    pipeline_root: str = ""
    beam_args: tuple[str, ...] = ()
    temp_dir: str = ""
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    metadata: Any = None
    resolved: Mapping[str, Artifact | None] = field(default_factory=dict)

    def beam_options(self) -> Any:
        """Beam PipelineOptions for this execution (see pipeline/beam_options.py)."""
        from seqline.pipeline.beam_options import make_pipeline_options

        return make_pipeline_options(self.beam_args, temp_location=self.temp_dir or None)


Executor = Callable[[ExecutionContext], Mapping[str, Any]]


@dataclass(frozen=True)
class Component:
    """A component's typed signature.

    Attributes:
        name: the verb, e.g. "transform"; default node id and URI segment.
        inputs: input name -> ArtifactType name it accepts.
        outputs: output name -> ArtifactType name it produces.
        config_type: a frozen dataclass; its fields are the YAML keys.
        executor: runs the component (see ExecutionContext).
        code_dir: the component's folder; every file in it is hashed into the fingerprint.
        source_fingerprint: for components that read data from outside the pipeline root (ingest),
            returns a string identifying that data (paths, sizes, mtimes) so new data is a new
            fingerprint. None for components that only read artifacts.
        check: optional pre-run check of the config against the world (files exist...), raising
            ConfigError; run for every node before any node executes.
        version: bump it to re-run every cached execution of this component (part of the
            fingerprint) when a change outside its code alters results.
        resolved: input name -> Resolver: inputs the runner finds in earlier runs (the last
            blessed model...) before fingerprinting; see pipeline/resolvers.py.
    """

    name: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    config_type: type
    executor: Executor
    code_dir: Path | None = None  # unused: the fingerprint hashes the import closure
    source_fingerprint: Callable[[Any], str] | None = None
    check: Callable[[Any], None] | None = None
    version: int = 1
    resolved: Mapping[str, Resolver] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config_type):
            raise TypeError(f"{self.name}: config_type must be a dataclass")
        params = self.config_type.__dataclass_params__  # type: ignore[attr-defined]
        if not params.frozen:
            raise TypeError(f"{self.name}: config_type must be frozen (@dataclass(frozen=True))")


def component_dir(module_file: str) -> Path:
    """The folder of a component module: `component_dir(__file__)` in component.py."""
    return Path(module_file).resolve().parent
