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
                         pipeline, other than the candidate, with finite recorded metrics,
                         still on disk, same labels
    PreviousStatistics   the statistics of the latest span before the current one that this
                         validate node accepted (published anomalies for); without spans, the
                         newest accepted statistics created before the current ones
    PreviousSchema       the newest schema this node published for other statistics

Pure Python over the metadata store and the filesystem: no TensorFlow.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from seqline.pipeline.artifact import Artifact, ArtifactType, read_artifact
from seqline.pipeline.artifact_manifest import damage
from seqline.storage import filesystem

if TYPE_CHECKING:
    from seqline.pipeline.metadata import ArtifactRecord, MetadataStore

# Stands for "nothing resolved" in a fingerprint.
NONE_FINGERPRINT = "none"

log = logging.getLogger(__name__)


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
    """The artifact at `record.uri`, or None when it is gone or was damaged after publishing
    (a file deleted or resized, artifact_manifest.damage): a resolver then looks further back
    instead of handing over, say, a schema whose schema.pbtxt was deleted."""
    artifact = read_artifact(record.uri)
    if artifact is None:
        # Said, not silent: a drift baseline or previous schema that was deleted by hand would
        # otherwise turn into "no baseline" (drift not checked) without a word.
        log.warning(
            "skipping the %s at %s as a resolved input: it is gone (deleted since it was "
            "published); an older one is used if there is one",
            record.type_name,
            record.uri,
        )
        return None
    problems = damage(artifact.uri)
    if problems:
        log.warning(
            "skipping the %s at %s as a resolved input: it changed since it was published (%s)",
            artifact.type_name,
            artifact.uri,
            "; ".join(problems),
        )
        return None
    return artifact


# -- the last blessed model ---------------------------------------------------------------------

# Why LatestBlessedModel passed a blessing: its model is the candidate being evaluated.
SKIPPED_CANDIDATE = "the candidate itself"


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


def nonfinite_metrics(properties: Mapping[str, Any]) -> list[str]:
    """Why a blessing's recorded figures cannot stand for a model: the metrics in its
    `metrics` property that are NaN or +-inf ("name=nan"; nested mappings as "a.b=nan"), plus
    "nonfinite_forecasts=N" when evaluate counted N > 0 forecast values that were not finite.
    [] for sound figures; None (a metric undefined on the data, e.g. MASE of a constant
    series) does not count."""
    bad: list[str] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{name}.{key}" if name else str(key))
        elif isinstance(value, float) and not math.isfinite(value):
            bad.append(f"{name}={value}")

    walk(properties.get("metrics") or {}, "")
    count = properties.get("nonfinite_forecasts")
    if isinstance(count, int | float) and not isinstance(count, bool) and count:
        bad.append(f"nonfinite_forecasts={count:g}")
    return bad


@dataclass(frozen=True)
class LatestBlessedModel:
    """The newest Model that evaluate BLESSED in this pipeline under the same model name.

    Blessing artifacts carry `blessed`, `model_name`, `model_uri` and `model_fingerprint`
    properties; they are read newest first. Skipped: the candidate itself (input
    `candidate_input`, so re-evaluating it is stable), a blessing whose recorded metrics are
    not finite (NaN/inf, see nonfinite_metrics: a model that forecast NaN was blessed before
    evaluate refused such models, and as the baseline it fails every later model's change
    thresholds; logged), a model whose SavedModel is gone, and a model whose `labels` differ
    from the candidate's (not comparable). The returned Model
    artifact's properties gain `pushed_version` (the serving version it went out as, or None)
    so the blessing can name it.

    For train's warm start (no candidate yet), `skip_same_inputs` keeps the answer stable: a
    model that this node trained from the same uris of those inputs is skipped, so after the
    new model is blessed, rerunning the same data still resolves the model it started from.

    Attributes:
        candidate_input: the input holding the model being evaluated.
        model_name: how the query's model name is derived (default_model_name); a name of ""
            matches blessings of any model name.
        same_node: only models that the querying node trained (train's warm start: whatever
            name evaluate blesses them under). Default False.
        enabled: config -> whether to resolve at all (default always).
        skip_same_inputs: input names; see above. Default ().
    """

    candidate_input: str = "model"
    model_name: Callable[[ResolverQuery], str] = default_model_name
    same_node: bool = False
    enabled: Callable[[Any], bool] = lambda config: True
    skip_same_inputs: tuple[str, ...] = ()
    type_name: str = ArtifactType.MODEL

    def _trained_here(self, query: ResolverQuery, uri: str) -> bool:
        if not self.skip_same_inputs:
            return False
        record = query.store.artifact_by_uri(uri)
        if record is None or record.node_id != query.node_id:
            return False
        return all(
            name in query.inputs
            and query.inputs[name].uri
            in _input_uris(query.store, record.producer_execution_id, name)
            for name in self.skip_same_inputs
        )

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        return self._search(query)

    def why_none(self, query: ResolverQuery) -> str:
        """Why `resolve` found nothing, for the executor to say (evaluate's report): "first
        run" only when no blessing of the name exists at all; otherwise what was skipped,
        e.g. the only blessed model is the candidate itself (a re-evaluation)."""
        if not self.enabled(query.config):
            return "not looked for (disabled by the config)"
        skipped: list[str] = []
        self._search(query, skipped)
        if not skipped:
            return "no blessed baseline model yet: first run"
        if set(skipped) == {SKIPPED_CANDIDATE}:
            return (
                "the only blessed model is this candidate itself (evaluated again): no other "
                "blessed model to compare with"
            )
        counts = ", ".join(f"{r} ({skipped.count(r)})" for r in dict.fromkeys(skipped))
        return f"no usable blessed model: {len(skipped)} blessing(s) skipped: {counts}"

    def _search(self, query: ResolverQuery, skipped: list[str] | None = None) -> Artifact | None:
        """The model `resolve` returns. With a `skipped` list, appends why each blessing was
        passed over instead of logging it (resolve already did)."""
        quiet = skipped is not None
        skipped = [] if skipped is None else skipped
        if not self.enabled(query.config):
            return None
        candidate = query.inputs.get(self.candidate_input)
        labels = candidate.properties.get("labels") if candidate is not None else None
        name = self.model_name(query)
        blessings = query.store.find_artifacts(
            ArtifactType.BLESSING,
            pipeline_name=query.pipeline_name,
            properties={"blessed": True, **({"model_name": name} if name else {})},
        )
        for blessing in blessings:
            uri = blessing.properties.get("model_uri")
            fingerprint = blessing.properties.get("model_fingerprint")
            if not uri:
                skipped.append("no model uri")
                continue
            if candidate is not None and fingerprint == candidate.fingerprint:
                skipped.append(SKIPPED_CANDIDATE)
                continue
            if self._trained_here(query, uri):
                skipped.append("trained by this node from the same inputs")
                continue
            bad = nonfinite_metrics(blessing.properties)
            if bad:
                skipped.append("recorded metrics not finite")
                if not quiet:
                    log.warning(
                        "%s: not using the model blessed at %s (%s) as the baseline: its "
                        "recorded metrics are not finite (%s); looking at earlier blessings",
                        query.node_id, blessing.uri, uri, ", ".join(bad),
                    )  # fmt: skip
                continue
            if self.same_node:
                record = query.store.artifact_by_uri(uri)
                if record is None or record.node_id != query.node_id:
                    skipped.append("trained by another node")
                    continue
            model = read_artifact(uri)
            if model is None or not filesystem.exists(
                filesystem.join(uri, "saved_model", "saved_model.pb")
            ):
                skipped.append("model deleted since")  # by retention or by hand
                continue
            if labels is not None and model.properties.get("labels") != labels:
                skipped.append("labels differ from the candidate's")
                continue
            model.properties["pushed_version"] = pushed_version(query.store, uri)
            return model
        return None


# -- the previous accepted span's statistics ----------------------------------------------------


def accepted_inputs(store: MetadataStore, input_name: str, validate_node: str | None) -> set[str]:
    """URIs of the `input_name` inputs ("statistics", "schema") of the executions that
    published anomalies: of the node `validate_node`, or of any node when None. A validation
    that blocked publishes nothing, so what it read is never accepted."""
    accepted: set[str] = set()
    for record in store.artifacts(type_name=ArtifactType.ANOMALIES, node_id=validate_node):
        accepted |= _input_uris(store, record.producer_execution_id, input_name)
    return accepted


def accepted_statistics(store: MetadataStore, validate_node: str) -> set[str]:
    """URIs of the statistics the validate node `validate_node` published anomalies for (a span
    that failed validation publishes nothing, so it is never accepted)."""
    return accepted_inputs(store, "statistics", validate_node)


def statistics_span(store: MetadataStore, record: ArtifactRecord) -> object:
    """The span of a statistics artifact: its `span` property, else (statistics published
    before they carried it) the `span` of the Examples its execution read; None without."""
    if "span" in record.properties:
        return record.properties["span"]
    if record.producer_execution_id is None:
        return None
    for name, upstream in store.artifacts_of(record.producer_execution_id, "input"):
        if name == "examples":
            return upstream.properties.get("span")
    return None


def earlier_span(span: object, than: object) -> bool:
    """True if `span` comes before `than`: both span numbers (int) or both ISO dates (str;
    "YYYY-MM-DD" sorts as text). Spans of different kinds are never ordered."""
    if isinstance(span, bool) or isinstance(than, bool):
        return False
    if isinstance(span, int) and isinstance(than, int):
        return span < than
    if isinstance(span, str) and isinstance(than, str):
        return span < than
    return False


@dataclass(frozen=True)
class PreviousStatistics:
    """The previous accepted span's statistics, for drift. Among the other ExampleStatistics of
    the node that produced the current `statistics` input, still on disk, under this root,
    that this validate node accepted:

    - with spans (the current statistics have a span, see statistics_span): the one of the
      latest span before the current span (newest first among equals). A backfill of an old
      span is compared with the span before it, not with whatever ran last; the first span
      has no baseline;
    - without spans: the newest one created before the current statistics.

    After a bad span, the next one is still compared with the last good one. The returned
    artifact's properties gain `span` (its span, or None) so validate can name it. None when
    `enabled(config)` is false (e.g. drift checks turned off).

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
        current_record = query.store.artifact_by_uri(current.uri)
        current_span = current.properties.get("span")
        if current_span is None and current_record is not None:
            current_span = statistics_span(query.store, current_record)
        best: tuple[Artifact, object] | None = None
        for record in query.store.artifacts(type_name=ArtifactType.STATISTICS, node_id=stats_node):
            if record.uri == current.uri or record.uri not in accepted:
                continue
            if not query.under_root(record.uri):
                continue
            span = statistics_span(query.store, record)
            if current_span is None:
                if current.created and record.created_at > current.created:
                    continue
            elif not earlier_span(span, current_span):
                continue
            elif best is not None and not earlier_span(best[1], span):
                continue  # newest first: keep the newest of the latest earlier span
            found = _readable(record)
            if found is None:
                continue
            found.properties.setdefault("span", span)
            if current_span is None:
                return found
            best = (found, span)
        return best[0] if best is not None else None


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
        accepted_only: only a schema some validate node passed (published anomalies for: the
            drift baseline's rule, accepted_inputs). A schema inferred on a run that
            validation then blocked (say from a wrong series frequency) would otherwise block
            every later run, even after the config that made it wrong is fixed. Default False
            (any published schema); the schema component sets it.
    """

    statistics_input: str = "statistics"
    enabled: Callable[[Any], bool] = lambda config: bool(
        getattr(config, "reuse_inferred", True) and not getattr(config, "curated_schema", "")
    )
    accepted_only: bool = False
    type_name: str = ArtifactType.SCHEMA

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        if not self.enabled(query.config):
            return None
        current = query.inputs.get(self.statistics_input)
        accepted = accepted_inputs(query.store, "schema", None) if self.accepted_only else None
        for record in query.store.artifacts(type_name=ArtifactType.SCHEMA, node_id=query.node_id):
            if not query.under_root(record.uri):
                continue
            sources = _input_uris(query.store, record.producer_execution_id, self.statistics_input)
            if current is not None and current.uri in sources:
                continue
            if accepted is not None and record.uri not in accepted:
                log.info(
                    "%s: not reusing the schema at %s: no validation accepted it (the run it "
                    "was inferred on was blocked, or never validated)",
                    query.node_id, record.uri,
                )  # fmt: skip
                continue
            found = _readable(record)
            if found is not None:
                return found
        return None


def resolution_notes(
    resolvers: Mapping[str, Resolver],
    query: ResolverQuery,
    resolved: Mapping[str, Artifact | None],
) -> dict[str, str]:
    """Resolved input name -> why nothing was found, for the inputs that resolved to None and
    whose resolver can say (a `why_none(query)` method, as LatestBlessedModel has)."""
    notes: dict[str, str] = {}
    for name, resolver in sorted(resolvers.items()):
        why_none = getattr(resolver, "why_none", None)
        if resolved.get(name) is None and callable(why_none):
            notes[name] = str(why_none(query))
    return notes


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
