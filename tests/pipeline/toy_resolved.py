"""Toy components (no TensorFlow) with resolved inputs, shaped like seqline's train, evaluate,
push, statistics, validate and schema, to test resolution, caching and lineage."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.errors import DataError
from seqline.pipeline.resolvers import LatestBlessedModel, PreviousSchema, PreviousStatistics


@dataclass(frozen=True)
class TrainConfig:
    quality: int = 1
    calls_log: str = ""


def _log(path: str, name: str) -> None:
    if path:
        with open(path, "a") as f:
            f.write(name + "\n")


def train(ctx: ExecutionContext) -> dict:
    _log(ctx.config.calls_log, "train")
    out = ctx.outputs["model"]
    os.makedirs(os.path.join(out.uri, "saved_model"))
    with open(os.path.join(out.uri, "saved_model", "saved_model.pb"), "w") as f:
        f.write(str(ctx.config.quality))
    out.properties.update({"labels": ["neg", "pos"], "quality": ctx.config.quality})
    return {}


TRAIN = Component(
    name="train",
    inputs={},
    outputs={"model": ArtifactType.MODEL},
    config_type=TrainConfig,
    executor=train,
)


@dataclass(frozen=True)
class EvaluateConfig:
    model_name: str = ""
    calls_log: str = ""


def evaluate(ctx: ExecutionContext) -> dict:
    _log(ctx.config.calls_log, "evaluate")
    model, baseline = ctx.inputs["model"], ctx.resolved["baseline_model"]
    out = ctx.outputs["blessing"]
    out.properties.update(
        {
            "blessed": True,
            "model_name": ctx.config.model_name or model.producer["node_id"],
            "model_uri": model.uri,
            "model_fingerprint": model.fingerprint,
            "baseline_model_uri": baseline.uri if baseline else None,
            "baseline_version": baseline.properties["pushed_version"] if baseline else None,
            "baseline_note": ctx.resolved_notes.get("baseline_model"),
        }
    )
    return {}


EVALUATE = Component(
    name="evaluate",
    inputs={"model": ArtifactType.MODEL},
    outputs={"blessing": ArtifactType.BLESSING},
    config_type=EvaluateConfig,
    executor=evaluate,
    resolved={"baseline_model": LatestBlessedModel()},
)


@dataclass(frozen=True)
class PushConfig:
    serving_dir: str = ""


def push(ctx: ExecutionContext) -> dict:
    os.makedirs(ctx.config.serving_dir, exist_ok=True)
    version = len(os.listdir(ctx.config.serving_dir)) + 1
    os.makedirs(os.path.join(ctx.config.serving_dir, str(version)))
    ctx.outputs["pushed_model"].properties.update({"pushed": True, "version": version})
    return {"version": version}


PUSH = Component(
    name="push",
    inputs={"model": ArtifactType.MODEL, "blessing": ArtifactType.BLESSING},
    outputs={"pushed_model": ArtifactType.PUSHED_MODEL},
    config_type=PushConfig,
    executor=push,
)


@dataclass(frozen=True)
class SpanConfig:
    span: int = 1


def statistics(ctx: ExecutionContext) -> dict:
    out = ctx.outputs["statistics"]
    with open(os.path.join(out.uri, "stats.json"), "w") as f:
        json.dump({"span": ctx.config.span}, f)
    with open(os.path.join(out.uri, "statistics.pb"), "wb"):  # the file the runner checks
        pass
    out.properties["span"] = ctx.config.span
    return {}


STATISTICS = Component(
    name="statistics",
    inputs={},
    outputs={"statistics": ArtifactType.STATISTICS},
    config_type=SpanConfig,
    executor=statistics,
)


@dataclass(frozen=True)
class ValidateConfig:
    reject_spans: tuple[int, ...] = ()
    drift: bool = True


def validate(ctx: ExecutionContext) -> dict:
    span = ctx.inputs["statistics"].properties["span"]
    baseline = ctx.resolved["baseline_statistics"]
    if span in ctx.config.reject_spans:
        raise DataError(f"span {span} is anomalous")
    out = ctx.outputs["anomalies"]
    out.properties["compared_with_span"] = baseline.properties["span"] if baseline else None
    return {}


VALIDATE = Component(
    name="validate",
    inputs={"statistics": ArtifactType.STATISTICS},
    outputs={"anomalies": ArtifactType.ANOMALIES},
    config_type=ValidateConfig,
    executor=validate,
    resolved={"baseline_statistics": PreviousStatistics()},
)


@dataclass(frozen=True)
class SchemaConfig:
    reuse_inferred: bool = True
    curated_schema: str = ""


def schema(ctx: ExecutionContext) -> dict:
    previous = ctx.resolved["previous_schema"]
    out = ctx.outputs["schema"]
    span = ctx.inputs["statistics"].properties["span"]
    out.properties["from_span"] = previous.properties["from_span"] if previous else span
    with open(out.path("schema.pbtxt"), "w") as f:  # a file a damaged copy can lack
        f.write(f"from_span: {out.properties['from_span']}\n")
    return {}


SCHEMA = Component(
    name="schema",
    inputs={"statistics": ArtifactType.STATISTICS},
    outputs={"schema": ArtifactType.SCHEMA},
    config_type=SchemaConfig,
    executor=schema,
    resolved={"previous_schema": PreviousSchema()},
)
