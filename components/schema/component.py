"""schema: ExampleStatistics -> Schema (curated, reused from an earlier run, or inferred).

Inputs:
    statistics (ExampleStatistics): from the statistics component.
    examples (Examples): the span's examples; their declared labels join the label domain.
    previous_schema (Schema, resolved): the newest schema this node published for an earlier
        span that a validate node then accepted (AcceptedPreviousSchema; None on the first run,
        with `reuse_inferred` off, or when curated).
Output:
    schema (Schema): schema.pbtxt; properties source ("curated" | "previous" | "inferred"),
        origin (the curated path or the earlier artifact's uri; None when inferred), features.

Where the schema comes from, in order:
    1. `curated_schema` set: that file, unchanged (its comparators are its own: the
       *_drift_threshold keys do not apply). Its content is part of this node's
       fingerprint (source_fingerprint), so editing it re-runs validation.
    2. `reuse_inferred` and a previous schema was resolved: that one (the first span's schema
       then governs later spans, as in TFDV's workflow), with the drift / skew thresholds of
       this config written over it (the config is the newer intent). Only a schema that
       validate accepted (published anomalies for, the drift baseline's rule): a schema
       inferred on a run that validation then blocked (say from a wrong series frequency)
       would block every later run, even after the config is fixed.
    3. otherwise inferred from the statistics (inference.py); the summary says how to curate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from seqline.components.schema.config import SchemaConfig
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.artifacts import Examples, ExampleStatistics, Schema
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.resolvers import (
    PreviousSchema,
    ResolverQuery,
    _input_uris,
    _readable,
)
from seqline.schemas.loading import load_schema, schema_file_digest, write_schema

if TYPE_CHECKING:
    from seqline.pipeline.metadata import MetadataStore

log = logging.getLogger(__name__)


def accepted_schemas(store: MetadataStore) -> set[str]:
    """URIs of the schemas a validate node published anomalies for (its input "schema"): a
    validation that blocked publishes nothing, so its schema is never accepted. The rule
    resolvers.accepted_statistics applies to the drift baseline's statistics."""
    accepted: set[str] = set()
    for record in store.artifacts(type_name=ArtifactType.ANOMALIES):
        accepted |= _input_uris(store, record.producer_execution_id, "schema")
    return accepted


class AcceptedPreviousSchema(PreviousSchema):
    """PreviousSchema restricted to schemas that validation accepted (accepted_schemas): the
    newest schema this node published for other statistics, still on disk, under this root,
    that a validate node passed. A schema of a blocked run is skipped (and logged), so fixing
    the config that made it wrong is enough; the next run infers afresh or reuses the last
    accepted one."""

    def resolve(self, query: ResolverQuery) -> Artifact | None:
        if not self.enabled(query.config):
            return None
        current = query.inputs.get(self.statistics_input)
        accepted = accepted_schemas(query.store)
        for record in query.store.artifacts(type_name=ArtifactType.SCHEMA, node_id=query.node_id):
            if not query.under_root(record.uri):
                continue
            sources = _input_uris(query.store, record.producer_execution_id, self.statistics_input)
            if current is not None and current.uri in sources:
                continue
            if record.uri not in accepted:
                log.info(
                    "%s: not reusing the schema at %s: validation did not accept it (the run "
                    "it was inferred on was blocked, or never validated)",
                    query.node_id, record.uri,
                )  # fmt: skip
                continue
            found = _readable(record)
            if found is not None:
                return found
        return None


def run(
    ctx: ExecutionContext,
    config: SchemaConfig,
    statistics: ExampleStatistics,
    examples: Examples,
    previous_schema: Schema | None,
    schema: Out[Schema],
) -> dict[str, Any]:
    """Executor: writes schema.pbtxt; returns {"source", "features"}."""
    from seqline.components.schema.inference import (  # noqa: PLC0415
        InferenceOptions,
        apply_thresholds,
        infer_schema,
    )
    from seqline.components.statistics.statistics_files import read_statistics  # noqa: PLC0415

    origin: str | None = None
    options = InferenceOptions(
        label_feature=statistics.label_feature,
        labels=tuple(examples.labels),
        series_id_feature=statistics.series_id_feature,
        infer_from_split=config.infer_from_split,
        max_enum_values=config.max_enum_values,
        label_drift_threshold=config.label_drift_threshold,
        categorical_drift_threshold=config.categorical_drift_threshold,
        text_drift_threshold=config.text_drift_threshold,
        numeric_drift_threshold=config.numeric_drift_threshold,
    )
    if config.curated_schema:
        proto, source, origin = load_schema(config.curated_schema), "curated", config.curated_schema
    elif config.reuse_inferred and previous_schema is not None:
        proto, source, origin = load_schema(previous_schema.uri), "previous", previous_schema.uri
        # The config is the newer intent: a changed drift threshold must not be kept out by
        # the reused schema's old one (the reused domains and types stay as they were).
        changed = apply_thresholds(proto, options)
        if changed:
            ctx.progress(
                f"reused schema {origin}: drift/skew thresholds set from the schema config ("
                + "; ".join(changed)
                + ")"
            )
    else:
        proto, source = infer_schema(read_statistics(statistics.uri), options), "inferred"
    path = write_schema(proto, schema.uri)
    names = [f.name for f in proto.feature]
    schema.properties.update({"source": source, "origin": origin, "features": names})
    if source == "inferred":
        published = f"{schema.uri.rsplit('/', 1)[0]}/{schema.fingerprint}/{Schema.SCHEMA_FILE}"
        ctx.progress(
            f"inferred a schema of {len(names)} features; to curate it, copy {published} into "
            "your repository, edit it, and set schema.curated_schema to its path"
        )
    log.info("schema: %s schema written to %s", source, path)
    return {"source": source, "features": len(names)}


def source_fingerprint(config: SchemaConfig) -> str:
    """The curated schema's content hash (so editing the file re-runs this node)."""
    return schema_file_digest(config.curated_schema) if config.curated_schema else ""


def check(config: SchemaConfig) -> None:
    """Before any node runs: the curated schema exists and parses (ConfigError otherwise)."""
    if config.curated_schema:
        load_schema(config.curated_schema)


COMPONENT = component(
    run,
    name="schema",
    resolved={"previous_schema": AcceptedPreviousSchema()},
    source_fingerprint=source_fingerprint,
    check=check,
)
