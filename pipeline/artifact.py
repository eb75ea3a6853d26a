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
from seqline.storage import filesystem

DESCRIPTOR = "artifact.json"

__all__ = [
    "DESCRIPTOR",
    "Artifact",
    "ArtifactType",
    "artifact_from_json",
    "artifact_uri",
    "new_artifact",
    "read_artifact",
    "write_descriptor",
]


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
    """The typed artifact published at `uri`, or None if nothing complete is there."""
    descriptor = filesystem.join(uri, DESCRIPTOR)
    if not filesystem.exists(descriptor):
        return None
    return artifact_from_json(json.loads(filesystem.read_text(descriptor)))


def write_descriptor(artifact: Artifact, directory: str) -> None:
    """Writes `artifact.json` into `directory` (which may be the temporary sibling)."""
    artifact.created = artifact.created or time.time()
    filesystem.write_text(
        filesystem.join(directory, DESCRIPTOR), json.dumps(artifact.to_json(), indent=2)
    )
