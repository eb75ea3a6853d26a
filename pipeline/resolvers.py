"""Resolved inputs: artifacts a node needs from earlier runs, found by the runner.

A component declares them in `Component.resolved` (input name -> Resolver). Before it computes
the node's fingerprint, the runner asks each resolver for an artifact, given a ResolverQuery
(the metadata store, the pipeline, the node, its config and its already-known inputs). The
resolved artifact's fingerprint (or "none") goes into the node's fingerprint, so a new baseline
re-runs the node, and the artifact is recorded as an input of the execution, so lineage shows
it. The executor reads it from `ctx.resolved[name]` (an Artifact, or None when there is none).

A resolver must be stable: asked again after the node published its output, it must give the
same answer (otherwise the second run of unchanged inputs would never be fully cached). Each
resolver below therefore excludes what the node itself produced from the same inputs.

The three resolvers seqline's components use (TFX's Resolver idea, written for this store):

    LatestBlessedModel   the newest model evaluate BLESSED under the same model name in this
                         pipeline, other than the candidate, still on disk, same labels
    PreviousStatistics   the newest statistics of an earlier span that this validate node
                         accepted (published anomalies for)
    PreviousSchema       the newest schema this node published for other statistics

Pure Python over the metadata store and the filesystem: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from seqline.pipeline.artifact import Artifact, ArtifactType, read_artifact
from seqline.storage import filesystem

if TYPE_CHECKING:
    from seqline.pipeline.metadata import ArtifactRecord, MetadataStore

# Stands for "nothing resolved" in a fingerprint.
NONE_FINGERPRINT = "none"


@dataclass(frozen=True)
class ResolverQuery:
    """What a resolver may look at.

    Attributes:
        store: the run's metadata store (read only).
        pipeline_name: the pipeline being run; resolvers stay within it.
        pipeline_root: its root; artifacts outside it are never resolved.
        node_id: the node whose input is being resolved.
        config: that node's config dataclass instance.
        inputs: the node's wired inputs, already published (e.g. the candidate "model").
    """

    store: MetadataStore
    pipeline_name: str
    pipeline_root: str
    node_id: str
    config: Any
    inputs: Mapping[str, Artifact] = field(default_factory=dict)

    def under_root(self, uri: str) -> bool:
        """True if `uri` lies below this pipeline's root."""
        return uri.startswith(self.pipeline_root.rstrip("/") + "/")


@runtime_checkable
class Resolver(Protocol):
    """Finds one input artifact from earlier runs. `type_name` is the ArtifactType it returns;
    `resolve` returns the artifact or None (first run, nothing usable)."""

    @property
    def type_name(self) -> str: ...

    def resolve(self, query: ResolverQuery) -> Artifact | None: ...


def resolved_fingerprint(artifact: Artifact | None) -> str:
    """What a resolved input contributes to the node's fingerprint."""
    return artifact.fingerprint if artifact is not None else NONE_FINGERPRINT


def _input_uris(store: MetadataStore, execution_id: int | None, name: str) -> set[str]:
    if execution_id is None:
        return set()
    return {a.uri for n, a in store.artifacts_of(execution_id, "input") if n == name}


def _readable(record: ArtifactRecord) -> Artifact | None:
    return read_artifact(record.uri)


# -- the last blessed model ---------------------------------------------------------------------


def default_model_name(query: ResolverQuery) -> str:
    """The name baselines are matched by: the config's `model_name`, else the node that trained
    the candidate `model` input, else "model" (evaluate's rule, see its config)."""
    name = getattr(query.config, "model_name", "") or ""
    if name:
        return str(name)
    model = query.inputs.get("model")
    return (model.producer.get("node_id") if model is not None else None) or "model"


def pushed_version(store: MetadataStore, model_uri: str) -> int | None:
    """The newest serving version the model at `model_uri` was pushed as (None if never): a
    PushedModel with pushed=True whose producing execution took that model as input "model"."""
    for record in store.find_artifacts(ArtifactType.PUSHED_MODEL, properties={"pushed": True}):
        if model_uri in _input_uris(store, record.producer_execution_id, "model"):
            version = record.properties.get("version")
            return int(version) if version is not None else None
    return None


@dataclass(frozen=True)
class LatestBlessedModel:
    """The newest Model that evaluate BLESSED in this pipeline under the same model name.

    Blessing artifacts carry `blessed`, `model_name`, `model_uri` and `model_fingerprint`
    properties; they are read newest first. Skipped: the candidate itself (input
    `candidate_input`, so re-evaluating it is stable), a model whose SavedModel is gone, and a
    model whose `labels` differ from the candidate's (not comparable). The returned Model
    artifact's properties gain `pushed_version` (the serving version it went out as, or None)
    so the blessing can name it.

    Attributes:
        candidate_input: the input holding the model being evaluated.
        model_name: how the query's model name is derived (default_model_name).
    """

    candidate_input: str = "model"
    model_name: Callable[[ResolverQuery], str] = default_model_name
    type_name: str = ArtifactType.MODEL

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        candidate = query.inputs.get(self.candidate_input)
        labels = candidate.properties.get("labels") if candidate is not None else None
        blessings = query.store.find_artifacts(
            ArtifactType.BLESSING,
            pipeline_name=query.pipeline_name,
            properties={"blessed": True, "model_name": self.model_name(query)},
        )
        for blessing in blessings:
            uri = blessing.properties.get("model_uri")
            fingerprint = blessing.properties.get("model_fingerprint")
            if not uri or (candidate is not None and fingerprint == candidate.fingerprint):
                continue
            model = read_artifact(uri)
            if model is None or not filesystem.exists(
                filesystem.join(uri, "saved_model", "saved_model.pb")
            ):
                continue  # deleted by retention or by hand
            if labels is not None and model.properties.get("labels") != labels:
                continue
            model.properties["pushed_version"] = pushed_version(query.store, uri)
            return model
        return None


# -- the previous accepted span's statistics ----------------------------------------------------


def accepted_statistics(store: MetadataStore, validate_node: str) -> set[str]:
    """URIs of the statistics the validate node `validate_node` published anomalies for (a span
    that failed validation publishes nothing, so it is never accepted)."""
    accepted: set[str] = set()
    for record in store.artifacts(type_name=ArtifactType.ANOMALIES, node_id=validate_node):
        accepted |= _input_uris(store, record.producer_execution_id, "statistics")
    return accepted


@dataclass(frozen=True)
class PreviousStatistics:
    """The previous accepted span's statistics, for drift: the newest other ExampleStatistics of
    the node that produced the current `statistics` input, created before it, still on disk,
    that this validate node accepted. After a bad span, the next one is still compared with the
    last good one. None when `enabled(config)` is false (e.g. drift checks turned off).

    Attributes:
        current_input: the input holding this span's statistics.
        enabled: config -> whether to resolve at all.
    """

    current_input: str = "statistics"
    enabled: Callable[[Any], bool] = lambda config: bool(getattr(config, "drift", True))
    type_name: str = ArtifactType.STATISTICS

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        current = query.inputs.get(self.current_input)
        if current is None or not self.enabled(query.config):
            return None
        stats_node = current.producer.get("node_id") or "statistics"
        accepted = accepted_statistics(query.store, query.node_id)
        for record in query.store.artifacts(type_name=ArtifactType.STATISTICS, node_id=stats_node):
            if record.uri == current.uri or record.uri not in accepted:
                continue
            if not query.under_root(record.uri):
                continue
            if current.created and record.created_at > current.created:
                continue
            found = _readable(record)
            if found is not None:
                return found
        return None


# -- the previous schema ------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviousSchema:
    """The newest Schema this node published earlier in this pipeline root for *other*
    statistics (so the first span's inferred schema governs later spans, as in TFDV's workflow),
    still on disk. A schema published for the current statistics is skipped: reusing it equals
    inferring again, and skipping it keeps a rerun of the same span cached. None when
    `enabled(config)` is false (a curated schema, or reuse turned off).

    Attributes:
        statistics_input: the input the schema is inferred from.
        enabled: config -> whether to resolve at all.
    """

    statistics_input: str = "statistics"
    enabled: Callable[[Any], bool] = lambda config: bool(
        getattr(config, "reuse_inferred", True) and not getattr(config, "curated_schema", "")
    )
    type_name: str = ArtifactType.SCHEMA

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        if not self.enabled(query.config):
            return None
        current = query.inputs.get(self.statistics_input)
        for record in query.store.artifacts(type_name=ArtifactType.SCHEMA, node_id=query.node_id):
            if not query.under_root(record.uri):
                continue
            sources = _input_uris(query.store, record.producer_execution_id, self.statistics_input)
            if current is not None and current.uri in sources:
                continue
            found = _readable(record)
            if found is not None:
                return found
        return None


def resolve_inputs(
    resolvers: Mapping[str, Resolver], query: ResolverQuery
) -> dict[str, Artifact | None]:
    """Runs every resolver; checks each answer has the declared type (TypeError otherwise: a
    resolver bug, not a user error)."""
    resolved: dict[str, Artifact | None] = {}
    for name, resolver in sorted(resolvers.items()):
        artifact = resolver.resolve(query)
        if artifact is not None and artifact.type_name != resolver.type_name:
            raise TypeError(
                f"resolver for input '{name}' of node '{query.node_id}' returned a "
                f"{artifact.type_name}, expected a {resolver.type_name}"
            )
        resolved[name] = artifact
    return resolved
