"""The wiring every seqline pipeline kind shares after its ingest node:

    {ingest} -> statistics -> schema -> validate -> transform -> train -> evaluate
             -> infra_validate -> push

A pipeline kind (text_pipeline.py, series_pipeline.py) names its ingest component and the
defaults it gives other nodes; everything downstream is the same components, wired once here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from seqline.components.evaluate.component import COMPONENT as EVALUATE
from seqline.components.evaluate.split_policy import check_evaluation_split
from seqline.components.infra_validate.component import COMPONENT as INFRA_VALIDATE
from seqline.components.push.component import COMPONENT as PUSH
from seqline.components.schema.component import COMPONENT as SCHEMA
from seqline.components.statistics.component import COMPONENT as STATISTICS
from seqline.components.train.component import COMPONENT as TRAIN
from seqline.components.transform.component import COMPONENT as TRANSFORM
from seqline.components.validate.component import COMPONENT as VALIDATE
from seqline.pipeline.component import Component
from seqline.pipeline.config_file import PipelineSettings
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ConfigError

# Node id -> (component, config fields that are paths resolved against the config's folder).
DOWNSTREAM: dict[str, tuple[Component, tuple[str, ...]]] = {
    "statistics": (STATISTICS, ()),
    "schema": (SCHEMA, ("curated_schema",)),
    "validate": (VALIDATE, ("serving_examples",)),
    "transform": (TRANSFORM, ()),
    "train": (TRAIN, ()),
    "evaluate": (EVALUATE, ()),
    "infra_validate": (INFRA_VALIDATE, ()),
    "push": (PUSH, ("serving_root",)),
}


@dataclasses.dataclass(frozen=True)
class IngestNode:
    """The kind-specific head of a pipeline.

    Attributes:
        node_id: e.g. "ingest_text".
        component: its Component (outputs "examples" and "rejected").
        path_fields: config fields that are paths, resolved against the config's folder.
        defaults: node id -> config fields a kind sets when the YAML leaves them out.
    """

    node_id: str
    component: Component
    path_fields: tuple[str, ...] = ("source",)
    defaults: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


def _config(
    node_id: str,
    component: Component,
    path_fields: tuple[str, ...],
    value: Any,
    defaults: Mapping[str, Any],
    settings: PipelineSettings,
) -> Any:
    if not isinstance(value, component.config_type):
        value = {**defaults, **dict(value or {})}
        value = build_dataclass(component.config_type, value, f"components.{node_id}")
    resolved = {
        name: settings.resolve_path(getattr(value, name))
        for name in path_fields
        if getattr(value, name) and not str(getattr(value, name)).startswith("builtin:")
    }
    return dataclasses.replace(value, **resolved) if resolved else value


def build_standard_pipeline(settings: PipelineSettings, ingest: IngestNode) -> Pipeline:
    """Validates every node's config (ConfigError names `components.<node>.<field>`) and wires
    `ingest` in front of the shared downstream components."""
    nodes_spec = {ingest.node_id: (ingest.component, ingest.path_fields), **DOWNSTREAM}
    unknown = sorted(set(settings.components) - set(nodes_spec))
    if unknown:
        raise ConfigError(
            f"components: unknown node(s) {unknown}; a {settings.kind} pipeline has "
            f"{list(nodes_spec)}"
        )
    configs = {
        node_id: _config(
            node_id,
            component,
            paths,
            settings.components.get(node_id),
            ingest.defaults.get(node_id, {}),
            settings,
        )
        for node_id, (component, paths) in nodes_spec.items()
    }
    # Before anything runs: the blessing is never decided on a split the trainer used.
    check_evaluation_split(
        configs[ingest.node_id], configs["transform"], configs["train"], configs["evaluate"]
    )
    examples = OutputRef(ingest.node_id, "examples")
    statistics = OutputRef("statistics", "statistics")
    model = OutputRef("train", "model")
    nodes = [
        Node(ingest.component, configs[ingest.node_id], id=ingest.node_id),
        Node(STATISTICS, configs["statistics"], {"examples": examples}),
        Node(SCHEMA, configs["schema"], {"statistics": statistics}),
        Node(
            VALIDATE,
            configs["validate"],
            {"statistics": statistics, "schema": OutputRef("schema", "schema")},
        ),
        Node(
            TRANSFORM,
            configs["transform"],
            {"examples": examples, "schema": OutputRef("validate", "schema")},
        ),
        Node(
            TRAIN,
            configs["train"],
            {
                "transform_graph": OutputRef("transform", "transform_graph"),
                "transformed_examples": OutputRef("transform", "transformed_examples"),
            },
        ),
        Node(EVALUATE, configs["evaluate"], {"examples": examples, "model": model}),
        Node(INFRA_VALIDATE, configs["infra_validate"], {"examples": examples, "model": model}),
        Node(
            PUSH,
            configs["push"],
            {
                "model": model,
                "blessing": OutputRef("evaluate", "blessing"),
                "infra_blessing": OutputRef("infra_validate", "infra_blessing"),
            },
        ),
    ]
    return Pipeline(
        name=settings.name,
        root=settings.root,
        nodes=nodes,
        metadata_url=settings.metadata_url,
        beam_args=tuple(settings.beam_args),
    )


def python_settings(
    name: str,
    root: str,
    kind: str,
    components: Mapping[str, Any],
    metadata_url: str | None = None,
    beam_args: Sequence[str] = (),
    base_dir: str = ".",
) -> PipelineSettings:
    """PipelineSettings for a pipeline built from Python (None configs mean defaults)."""
    settings = PipelineSettings(
        name=name,
        kind=kind,
        root=root,
        metadata_url=metadata_url,
        beam_args=tuple(beam_args),
        components={k: v for k, v in components.items() if v is not None},
        base_dir=base_dir,
    )
    return dataclasses.replace(settings, root=settings.resolve_path(root))
