"""Which split definitions a model's weights were fitted under: the Model's `split_lineage`.

Ingest records what decided each record's split as the Examples' `split_definition`
(docs/ingest.md). train does not read the Examples (transform's outputs are its inputs), so
`UpstreamExamples` resolves them: the nearest Examples upstream of `transformed_examples` in
the metadata store. The Model records the definitions of the Examples its weights were fitted
on: those of the model it was warm started from (its own lineage), then this run's, each once.
warm_start.py refuses a baseline whose lineage holds another definition, and evaluate refuses
a candidate (and sets aside a baseline model) whose lineage does not match the Examples it
scores: with another split, rows the model was fitted on may sit in the test split that decides
the blessing. Pure Python over the metadata store: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seqline.pipeline.artifact import Artifact, ArtifactType, new_artifact, read_artifact
from seqline.pipeline.artifacts import Examples, Model
from seqline.pipeline.resolvers import ResolverQuery


@dataclass(frozen=True)
class UpstreamExamples:
    """The Examples (`type_name`: "Examples" for text, "SeriesWindows" for series) that the
    `source_input` input was made from: the nearest artifact of that type upstream of it in the
    metadata store (transform's `examples` input). None when the store does not know the input
    (a hand-built context) or nothing upstream has that type.

    Stable: the same transformed examples always lead to the same Examples, and their
    fingerprint is already part of the transformed examples', so resolving them changes no
    caching decision."""

    type_name: str = ArtifactType.EXAMPLES
    source_input: str = "transformed_examples"

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        current = query.inputs.get(self.source_input)
        record = query.store.artifact_by_uri(current.uri) if current is not None else None
        if record is None:
            return None
        for _depth, _execution, _name, upstream in query.store.lineage(record.id):
            if upstream.type_name != self.type_name:
                continue
            found = read_artifact(upstream.uri)
            if found is not None:
                return found
            # Its folder was removed: the store still holds its properties.
            return new_artifact(
                upstream.type_name,
                upstream.uri,
                upstream.fingerprint,
                producer={"node_id": upstream.node_id},
                properties=upstream.properties,
            )
        return None


def current_definition(examples: Examples | None) -> dict[str, Any] | None:
    """The split definition of the Examples this run trains on (None: unknown)."""
    return examples.split_definition if examples is not None else None


def model_split_lineage(
    current: Mapping[str, Any] | None, warm_started_from: Model | None
) -> list[dict[str, Any]] | None:
    """The `split_lineage` of a model fitted on Examples split by `current` whose weights
    started from `warm_started_from` (None: from scratch): that model's lineage, then
    `current`, each definition once. None when `current` is unknown (nothing can be vouched
    for, whatever the warm start source recorded)."""
    if current is None:
        return None
    earlier = (warm_started_from.split_lineage or []) if warm_started_from is not None else []
    lineage: list[dict[str, Any]] = []
    for definition in [*earlier, dict(current)]:
        if definition not in lineage:
            lineage.append(definition)
    return lineage
