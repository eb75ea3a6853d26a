"""YAML pipeline configs: validated completely before anything runs.

    name: demo                   # pipeline name (runs are grouped by it)
    kind: text                   # which pipeline to build (entry point group seqline.pipelines)
    root: runs/demo              # artifacts + metadata; relative to this file; gs://... allowed
    metadata_url: null           # SQLAlchemy URL; default sqlite file under root
    beam_args: []                # e.g. ["--direct_num_workers=2"] or a Dataflow runner
    components:                  # one mapping per node, fields of that component's config
      ingest_text: {...}
      scrub:                     # a node whose component lives in any importable module
        component: my_team.scrub:COMPONENT
        inputs: {examples: ingest_text.examples}
        replaces: {examples: ingest_text.examples}   # downstream nodes read scrub's output
        config: {...}
      statistics: {inputs: {examples: scrub.examples}}   # or rewire one node explicitly

A pipeline kind is a function `build(settings: PipelineSettings) -> Pipeline`, registered as an
entry point in the `seqline.pipelines` group (see pyproject.toml), so this module never imports
a component and an extension package can add kinds of its own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import yaml

from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.custom_nodes import apply_custom, split_components
from seqline.pipeline.dag import Pipeline
from seqline.pipeline.errors import ConfigError

ENTRY_POINT_GROUP = "seqline.pipelines"


@dataclass(frozen=True)
class PipelineSettings:
    """The top level of a pipeline config. `components` stays raw here: the pipeline kind's
    builder parses each entry into that component's config dataclass (naming the path)."""

    name: str
    kind: str
    root: str
    metadata_url: str | None = None
    beam_args: tuple[str, ...] = ()
    components: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."  # directory relative paths in the config are resolved against

    def resolve_path(self, path: str) -> str:
        """Absolute form of a path from the config: URLs and absolute paths unchanged,
        relative paths against the config file's directory."""
        if "://" in path or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(path)))


def pipeline_kinds() -> dict[str, EntryPoint]:
    """Registered pipeline kinds: name -> entry point whose `.load()` gives the builder."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def settings_from_mapping(data: Any, base_dir: str = ".") -> PipelineSettings:
    """Validates the top level of a config mapping (ConfigError names the field)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"pipeline config: expected a mapping with name, kind, root, components; got "
            f"{type(data).__name__}"
        )
    data = dict(data)
    data.setdefault("base_dir", base_dir)
    settings = build_dataclass(PipelineSettings, data, "")
    if not settings.name.strip():
        raise ConfigError("name: expected a non-empty pipeline name, got ''")
    return PipelineSettings(
        name=settings.name,
        kind=settings.kind,
        root=settings.resolve_path(settings.root),
        metadata_url=settings.metadata_url,
        beam_args=settings.beam_args,
        components=settings.components,
        base_dir=os.path.abspath(settings.base_dir),
    )


def build_pipeline(settings: PipelineSettings) -> Pipeline:
    """Builds the Pipeline of `settings.kind` (ConfigError if that kind is unknown)."""
    kinds = pipeline_kinds()
    if settings.kind not in kinds:
        raise ConfigError(
            f"kind: expected one of {sorted(kinds)}, got {settings.kind!r}. Kinds come from the "
            f"'{ENTRY_POINT_GROUP}' entry points of installed packages (is seqline installed?)"
        )
    builder: Callable[[PipelineSettings], Pipeline] = kinds[settings.kind].load()
    # Custom nodes and rewired inputs work for every kind: the kind's builder sees only its
    # own nodes' configs, then custom_nodes adds the rest (see pipeline/custom_nodes.py).
    standard, custom, rewiring = split_components(settings.components)
    pipeline = builder(dataclasses.replace(settings, components=standard))
    return apply_custom(pipeline, custom, rewiring)


def load_pipeline(
    path: str | os.PathLike[str], overrides: dict[str, Any] | None = None
) -> Pipeline:
    """Reads, validates and builds the pipeline described by a YAML file.

    `overrides` replaces top-level keys (e.g. {"root": "/tmp/x"}) after reading."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"pipeline config {str(path)!r} does not exist or is not a file")
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if isinstance(data, dict) and overrides:
        data.update(overrides)
    try:
        settings = settings_from_mapping(data, base_dir=str(config_path.resolve().parent))
        return build_pipeline(settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
