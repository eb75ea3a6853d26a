"""The wiring every seqline pipeline kind shares:

    {ingest} -> statistics -> schema -> validate -> transform -> [tune] -> train -> evaluate
             -> infra_validate -> push

`tune` is optional: a kind that has a tune component (text) adds the node when the YAML has a
`components.tune` section; its config gets a copy of the train node's config as the base the
trials override, and train takes its best hyperparameters.

A pipeline kind (text_pipeline.py, series_pipeline.py) names the components that differ by
behaviour (its ingest, transform, train and evaluate components, e.g. transform_text or
transform_series) and the defaults it gives other nodes. Node ids, and so the YAML keys under
`components:` and the artifact URIs, are the same for every kind: `transform`, `train`,
`evaluate`... The shared components (statistics, schema, validate, infra_validate, push) and
the wiring are written once, here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from seqline.components.evaluate.split_policy import check_evaluation_split, ingest_output_splits
from seqline.components.infra_validate.component import COMPONENT as INFRA_VALIDATE
from seqline.components.push.component import COMPONENT as PUSH
from seqline.components.schema.component import COMPONENT as SCHEMA
from seqline.components.statistics.component import COMPONENT as STATISTICS
from seqline.components.validate.component import COMPONENT as VALIDATE
from seqline.components.validate.config import check_split_names
from seqline.pipeline.component import Component
from seqline.pipeline.config_file import PipelineSettings
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ConfigError

TUNE_NODE = "tune"
# Config fields that are paths, resolved against the config file's folder, per node id.
PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "schema": ("curated_schema",),
    "validate": ("serving_examples",),
    "push": ("serving_root", "model_config_file"),
    "train": ("model.pretrained.path",),  # dotted: a field of a nested config
}


@dataclasses.dataclass(frozen=True)
class PipelineKind:
    """What makes one pipeline kind: the components that differ by behaviour.

    Attributes:
        ingest_id: the ingest node's id, e.g. "ingest_text".
        ingest: its Component (outputs "examples" and "rejected").
        transform, train, evaluate: the kind's components behind the nodes of those ids.
        tune: the kind's tune component (None: the kind cannot be tuned); its node exists only
            when the config has a `tune` section.
        ingest_path_fields: ingest config fields that are paths (resolved against the config
            file's folder).
        defaults: node id -> config fields a kind sets when the YAML leaves them out.
        check_configs: cross-node config checks (see below); None = none.
    """

    ingest_id: str
    ingest: Component
    transform: Component
    train: Component
    evaluate: Component
    tune: Component | None = None
    ingest_path_fields: tuple[str, ...] = ("source",)
    defaults: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    # Checks across the nodes' configs (node id -> config), raising ConfigError before anything
    # runs: a mistake that needs two nodes' settings to see would otherwise surface only when
    # its node runs, after the ones before it.
    check_configs: Callable[[Mapping[str, Any]], None] | None = None

    def components(self, tuned: bool = False) -> dict[str, Component]:
        """Node id -> component, in pipeline order (with `tune` when `tuned` and the kind has
        one)."""
        tune = {TUNE_NODE: self.tune} if tuned and self.tune is not None else {}
        return {
            self.ingest_id: self.ingest,
            "statistics": STATISTICS,
            "schema": SCHEMA,
            "validate": VALIDATE,
            "transform": self.transform,
            **tune,
            "train": self.train,
            "evaluate": self.evaluate,
            "infra_validate": INFRA_VALIDATE,
            "push": PUSH,
        }

    def path_fields(self, node_id: str) -> tuple[str, ...]:
        if node_id == self.ingest_id:
            return self.ingest_path_fields
        return PATH_FIELDS.get(node_id, ())


def _config(
    node_id: str,
    component: Component,
    path_fields: tuple[str, ...],
    value: Any,
    defaults: Mapping[str, Any],
    settings: PipelineSettings,
) -> Any:
    if not isinstance(value, component.config_type):
        # None (`train:` with nothing under it) means the defaults; anything but a mapping is
        # left to build_dataclass to refuse (dict() took [[k, v]] pairs and false or 0 as {}).
        if value is None:
            value = {}
        if isinstance(value, Mapping):
            value = {**defaults, **value}
        value = build_dataclass(component.config_type, value, f"components.{node_id}")
    for name in path_fields:
        value = _with_resolved_path(value, name.split("."), settings)
    return value


def _with_resolved_path(value: Any, fields: list[str], settings: PipelineSettings) -> Any:
    """`value` with the path at `fields` (e.g. ["model", "pretrained", "path"]) resolved
    against the config file's folder; unchanged where a level is None or the path is empty
    or builtin:."""
    current = getattr(value, fields[0], None)
    if current is None or (isinstance(current, str) and not current):
        return value
    if len(fields) > 1:
        inner = _with_resolved_path(current, fields[1:], settings)
        return value if inner is current else dataclasses.replace(value, **{fields[0]: inner})
    if str(current).startswith("builtin:"):
        return value
    return dataclasses.replace(value, **{fields[0]: settings.resolve_path(current)})


def _tune_config(component: Component, settings: PipelineSettings, train: Any) -> Any:
    """The tune node's config: the YAML's `tune` section plus the train node's config as the
    base its trials override (so the fingerprint follows the train config too), without
    `refit`, which only train does after its own fit: switching it on does not search again."""
    train = dataclasses.replace(train, refit=False)
    given: Any = settings.components.get(TUNE_NODE)
    if isinstance(given, component.config_type):
        return dataclasses.replace(cast(Any, given), train=train)
    if given is not None and not isinstance(given, Mapping):
        build_dataclass(component.config_type, given, f"components.{TUNE_NODE}")  # refuses it
    value = dict(given or {})
    if "train" in value:
        raise ConfigError(
            "components.tune.train: expected no `train` key (the pipeline copies "
            "components.train there), got one; move those settings to components.train"
        )
    value["train"] = dataclasses.asdict(train)
    return build_dataclass(component.config_type, value, f"components.{TUNE_NODE}")


def build_standard_pipeline(settings: PipelineSettings, kind: PipelineKind) -> Pipeline:
    """Validates every node's config (ConfigError names `components.<node>.<field>`) and wires
    the kind's components with the shared ones."""
    nodes_spec = kind.components(tuned=TUNE_NODE in settings.components)
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
            kind.path_fields(node_id),
            settings.components.get(node_id),
            kind.defaults.get(node_id, {}),
            settings,
        )
        for node_id, component in nodes_spec.items()
        if node_id != TUNE_NODE
    }
    if TUNE_NODE in nodes_spec:
        configs[TUNE_NODE] = _tune_config(nodes_spec[TUNE_NODE], settings, configs["train"])
    # Before anything runs: the blessing is never decided on a split the trainer used.
    check_evaluation_split(
        configs[kind.ingest_id], configs["transform"], configs["train"], configs["evaluate"]
    )
    # validate.splits / skew_split typos, when the ingest config says which splits it makes
    # (else validate checks them against the statistics when it runs).
    ingest_splits = ingest_output_splits(configs[kind.ingest_id])
    if ingest_splits is not None:
        check_split_names(
            configs["validate"], ingest_splits, f"{kind.ingest_id} makes (per its config)"
        )
    if kind.check_configs is not None:
        kind.check_configs(configs)
        # Each tune candidate becomes a trial's train config: judge it the same way now, not
        # when the trial that draws it fails mid-search.
        if TUNE_NODE in configs:
            for path, value, train in configs[TUNE_NODE].candidate_trains():
                try:
                    kind.check_configs({**configs, "train": train})
                except ConfigError as e:
                    raise ConfigError(
                        f"components.tune.{path}: the "
                        f"{'combination' if isinstance(value, dict) else 'candidate'} {value!r} "
                        f"does not fit the other nodes: {e}"
                    ) from None
    examples = OutputRef(kind.ingest_id, "examples")
    statistics = OutputRef("statistics", "statistics")
    model = OutputRef("train", "model")
    transform_outputs = {
        "transform_graph": OutputRef("transform", "transform_graph"),
        "transformed_examples": OutputRef("transform", "transformed_examples"),
    }
    tuning = (
        [Node(nodes_spec[TUNE_NODE], configs[TUNE_NODE], transform_outputs, id=TUNE_NODE)]
        if TUNE_NODE in nodes_spec
        else []
    )
    tuned = {"hyperparameters": OutputRef(TUNE_NODE, "best_hyperparameters")} if tuning else {}
    nodes = [
        Node(kind.ingest, configs[kind.ingest_id], id=kind.ingest_id),
        Node(STATISTICS, configs["statistics"], {"examples": examples}),
        Node(SCHEMA, configs["schema"], {"statistics": statistics, "examples": examples}),
        Node(
            VALIDATE,
            configs["validate"],
            {"statistics": statistics, "schema": OutputRef("schema", "schema")},
        ),
        Node(
            kind.transform,
            configs["transform"],
            {"examples": examples, "schema": OutputRef("validate", "validated_schema")},
            id="transform",
        ),
        *tuning,
        Node(kind.train, configs["train"], {**transform_outputs, **tuned}, id="train"),
        Node(
            kind.evaluate,
            configs["evaluate"],
            {"examples": examples, "model": model},
            id="evaluate",
        ),
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
