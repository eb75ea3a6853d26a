"""Artifacts: directories that describe themselves.

An artifact lives at `{pipeline_root}/{node_id}/{output}/{fingerprint}/` (the one URI rule) and
holds whatever its producer wrote plus `artifact.json`, written last. A directory without
`artifact.json` is not an artifact and is never read. The typed classes (one per artifact type,
with their file structures) are in seqline.pipeline.artifacts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from seqline.pipeline.artifacts import Artifact, artifact_class
from seqline.pipeline.errors import SeqlineError
from seqline.storage import filesystem

DESCRIPTOR = "artifact.json"

__all__ = [
    "DESCRIPTOR",
    "Artifact",
    "ArtifactType",
    "DamagedArtifact",
    "artifact_from_json",
    "artifact_uri",
    "new_artifact",
    "read_artifact",
    "write_descriptor",
]


class DamagedArtifact(SeqlineError):
    """An artifact's `artifact.json` exists but cannot be read (truncated by a full disk or a
    bad copy, edited by hand). `uri` and `descriptor` name the folder and the file."""

    def __init__(self, uri: str, descriptor: str, problem: str) -> None:
        super().__init__(
            f"artifact descriptor {descriptor} is damaged ({problem}): expected the complete "
            "JSON document (type, uri, fingerprint, producer, properties) that a run writes "
            f"last. Remove the folder {uri} (or restore it from a backup): the node that "
            "produced it then runs again the next time its output is needed"
        )
        self.uri = uri
        self.descriptor = descriptor
        self.problem = problem


class ArtifactType:
    """The type names seqline's components exchange (each is a class in pipeline/artifacts/)."""

    EXAMPLES = "Examples"
    SERIES_WINDOWS = "SeriesWindows"
    REJECTED = "RejectedRecords"
    TRANSFORM_GRAPH = "TransformGraph"
    TRANSFORMED_EXAMPLES = "TransformedExamples"
    MODEL = "Model"
    MODEL_RUN = "ModelRun"
    BLESSING = "Blessing"
    INFRA_BLESSING = "InfraBlessing"
    PUSHED_MODEL = "PushedModel"
    STATISTICS = "ExampleStatistics"
    SCHEMA = "Schema"
    ANOMALIES = "ExampleAnomalies"
    HYPERPARAMETERS = "HyperParameters"


def artifact_uri(pipeline_root: str, node_id: str, output: str, fingerprint: str) -> str:
    """The one URI rule: `{pipeline_root}/{node_id}/{output}/{fingerprint}`."""
    return filesystem.join(pipeline_root, node_id, output, fingerprint)


def new_artifact(
    type_name: str,
    uri: str,
    fingerprint: str,
    producer: Mapping[str, str] | None = None,
    properties: Mapping[str, Any] | None = None,
    created: float = 0.0,
) -> Artifact:
    """An artifact of the typed class for `type_name` (plain Artifact for unknown types)."""
    return artifact_class(type_name)(
        type_name=type_name,
        uri=uri,
        fingerprint=fingerprint,
        producer=dict(producer or {}),
        properties=dict(properties or {}),
        created=created,
    )


def artifact_from_json(data: Mapping[str, Any]) -> Artifact:
    """The typed artifact a descriptor document describes."""
    return new_artifact(
        data["type"],
        data["uri"],
        data["fingerprint"],
        data.get("producer", {}),
        data.get("properties", {}),
        float(data.get("created", 0.0)),
    )


def read_artifact(uri: str) -> Artifact | None:
    """The typed artifact published at `uri`, or None if nothing complete is there.

    Raises:
        DamagedArtifact: `artifact.json` is there but is not a readable descriptor.
    """
    descriptor = filesystem.join(uri, DESCRIPTOR)
    if not filesystem.exists(descriptor):
        return None
    try:
        text = filesystem.read_text(descriptor)
    except UnicodeDecodeError as exc:
        raise DamagedArtifact(uri, descriptor, f"not UTF-8 text: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        problem = f"not valid JSON: {exc}" if text.strip() else "empty"
        raise DamagedArtifact(uri, descriptor, problem) from None
    if not isinstance(data, dict):
        raise DamagedArtifact(uri, descriptor, f"a JSON {type(data).__name__}, not an object")
    missing = [key for key in ("type", "uri", "fingerprint") if key not in data]
    if missing:
        raise DamagedArtifact(uri, descriptor, f"no {', '.join(missing)}")
    try:
        return artifact_from_json(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise DamagedArtifact(uri, descriptor, f"unexpected values: {exc}") from None


def write_descriptor(artifact: Artifact, directory: str) -> None:
    """Writes `artifact.json` into `directory` (which may be the temporary sibling)."""
    artifact.created = artifact.created or time.time()
    filesystem.write_text(
        filesystem.join(directory, DESCRIPTOR), json.dumps(artifact.to_json(), indent=2)
    )
