"""schema: ExampleStatistics -> Schema (curated, reused from an earlier run, or inferred).

Inputs:
    statistics (ExampleStatistics): from the statistics component.
    examples (Examples): the span's examples; their declared labels join the label domain.
    previous_schema (Schema, resolved): the newest schema this node published for an earlier
        span that a validate node then accepted (PreviousSchema with accepted_only; None on the
        first run, with `reuse_inferred` off, or when curated).
Output:
    schema (Schema): schema.pbtxt; properties source ("curated" | "previous" | "inferred"),
        origin (the curated path or the earlier artifact's uri; None when inferred), features.

Where the schema comes from, in order:
    1. `curated_schema` set: that file, unchanged (its comparators are its own: the
       *_drift_threshold keys do not apply). Its content is part of this node's
       fingerprint (source_fingerprint), so editing it re-runs validation. It is checked
       first (schemas/curated.py; ConfigError naming the file): named, typed and unique
       features, every `domain:` defined at the schema level, and the label feature present
       in TRAINING when the examples carry one (statistics.label_feature).
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
from typing import Any

from seqline.components.schema.config import SchemaConfig
from seqline.pipeline.artifacts import Examples, ExampleStatistics, Schema
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.resolvers import PreviousSchema
from seqline.schemas.curated import load_curated_schema
from seqline.schemas.loading import load_schema, schema_file_digest, write_schema

log = logging.getLogger(__name__)


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
    from seqline.components.statistics.statistics_files import (  # noqa: PLC0415
        feature_name,
        read_statistics,
    )

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
        stats = read_statistics(statistics.uri)
        label = statistics.label_feature
        labelled = bool(label) and any(
            feature_name(f) == label for dataset in stats.datasets for f in dataset.features
        )
        # Checked here, not only by check(): the label the data carries is known now.
        proto = load_curated_schema(
            config.curated_schema,
            required=[label] if labelled else [],
            reason=f"the examples carry the label feature {label!r} (statistics.label_feature) "
            "that transform and train read",
        )
        source, origin = "curated", config.curated_schema
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
    """Before any node runs: the curated schema exists, parses and is structurally sound
    (schemas/curated.py: named, typed, unique features; every `domain:` defined); ConfigError
    otherwise."""
    if config.curated_schema:
        load_curated_schema(config.curated_schema)


COMPONENT = component(
    run,
    name="schema",
    resolved={"previous_schema": PreviousSchema(accepted_only=True)},
    source_fingerprint=source_fingerprint,
    check=check,
)
