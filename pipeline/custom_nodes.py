"""Nodes whose component lives outside seqline, and rewiring of existing nodes' inputs.

In a pipeline YAML, a `components:` entry with a `component:` key is a custom node; any other
entry may carry `inputs:` to rewire that node:

    components:
      ingest_text: {source: data/reviews.csv, labels: [neg, pos]}
      scrub:                                    # a new node, any id
        component: my_team.scrub:COMPONENT      # "importable.module:ATTRIBUTE", a Component
        inputs: {examples: ingest_text.examples}
        replaces: {examples: ingest_text.examples}   # optional, see below
        config: {patterns: [email, phone]}      # fields of the component's config dataclass
      statistics:
        inputs: {examples: scrub.examples}      # optional explicit rewiring of one node

`replaces: {OUT: NODE.OUTPUT}` makes the custom node's output OUT stand in for NODE.OUTPUT
everywhere downstream: every other node that read NODE.OUTPUT reads it instead (statistics,
transform, evaluate and infra_validate then all see scrubbed examples). Explicit `inputs:` on
a node wins over `replaces`: a node rewired with `inputs:`, and every custom node's own
`inputs:`, keep what they name. The new node's own upstream nodes keep their inputs too, so
custom nodes chain (dedupe reads ingest_text.examples, scrub reads dedupe.examples and
replaces ingest_text.examples). The DAG checks the result like any pipeline (types, cycles).

From Python, the same on any Pipeline:

    pipeline = add_node(pipeline, "scrub", "my_team.scrub:COMPONENT",
                        inputs={"examples": "ingest_text.examples"},
                        config={"patterns": ["email"]},
                        replaces={"examples": "ingest_text.examples"})
    pipeline = rewire(pipeline, "statistics", {"examples": "scrub.examples"})

No entry point, registry or edit of seqline is needed: the module only has to be importable
(installed, or on PYTHONPATH). Its code is in the node's fingerprint (pipeline/fingerprint.py).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
import logging
import pkgutil
import re
import traceback
from collections.abc import Mapping
from typing import Any

from seqline.pipeline.component import Component
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ConfigError, WiringError
from seqline.pipeline.fingerprint import versions_of

log = logging.getLogger(__name__)

CUSTOM_KEYS = {"component", "inputs", "config", "replaces"}
_REFERENCE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attribute>[A-Za-z_]\w*)$")
_OUTPUT = re.compile(r"^(?P<node>[^.\s]+)\.(?P<output>[^.\s]+)$")


def load_component(reference: str | Component, where: str = "component") -> Component:
    """The Component named by "package.module:ATTRIBUTE" (imported now), or `reference` itself
    if it already is one. ConfigError says what was wrong and how to fix it."""
    if isinstance(reference, Component):
        return reference
    match = _REFERENCE.match(str(reference))
    if match is None:
        raise ConfigError(
            f"{where}: expected 'importable.module:ATTRIBUTE' (e.g. my_team.scrub:COMPONENT), "
            f"got {reference!r}"
        )
    name, attribute = match["module"], match["attribute"]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise ConfigError(
                f"{where}: cannot import module {name!r} ({exc}{_sibling_hint(exc.name)}); "
                "install its package or put its folder on PYTHONPATH"
            ) from None
        raise _import_failed(where, name, exc) from None
    except Exception as exc:  # the module exists; its own code failed while importing
        raise _import_failed(where, name, exc) from None
    component = getattr(module, attribute, None)
    if isinstance(component, Component):
        # The referenced module is code of the node too (a COMPONENT built by a factory
        # from another module takes its constants from here): a root of its code hash.
        if name not in component.defined_in:
            component = dataclasses.replace(component, defined_in=(*component.defined_in, name))
        _warn_missing_libraries(component, where)
        return component
    defined = sorted(k for k, v in vars(module).items() if isinstance(v, Component))
    if hasattr(module, attribute):
        what = (
            f"expected {name}.{attribute} to be a seqline.pipeline.component.Component, got "
            f"{type(component).__name__}; module {name!r}"
        )
    else:
        what = f"module {name!r} has no attribute {attribute!r}; it"
    if not defined:
        raise ConfigError(
            f"{where}: {what} has no Component among its names: point at a module that has "
            "one, or define one there (docs/extending.md)"
        )
    guess = _close_match(attribute, defined)
    fix = f"did you mean {name}:{guess}?" if guess else f"write e.g. {name}:{defined[0]}"
    raise ConfigError(
        f"{where}: {what} has the Components {defined} (defined or imported there): {fix}"
    )


_WARNED_LIBRARIES: set[tuple[str, str]] = set()


def _warn_missing_libraries(component: Component, where: str) -> None:
    """Logs once per (component, entry) a `libraries=` entry that is not an installed
    distribution: its version is hashed as "absent", so the cache never notices its upgrades
    (a misspelled name is the usual cause). A warning, not an error: a library may be
    installed only where the node runs (a KFP image, an Airflow worker), not where the
    pipeline is compiled or its DAG parsed."""
    for entry, version in versions_of(tuple(component.libraries)).items():
        if version != "absent" or (component.name, entry) in _WARNED_LIBRARIES:
            continue
        _WARNED_LIBRARIES.add((component.name, entry))
        installed = sorted({d.metadata["Name"] or "" for d in importlib.metadata.distributions()})
        guess = _close_match(entry, [n for n in installed if n])
        log.warning(
            "%s: component %r lists libraries entry %r, which is not an installed distribution "
            "(pip show %s finds nothing)%s; its version is not in the cache key, so upgrading "
            "it will not rerun the node. Fix the name if it is misspelled (ignore this if the "
            "library is installed only where the node runs)",
            where,
            component.name,
            entry,
            entry,
            f"; did you mean {guess!r}?" if guess else "",
        )


def _close_match(word: str, candidates: list[str]) -> str | None:
    """The candidate closest to `word`, ignoring case (`component` finds COMPONENT), if any
    is close (difflib's ratio 0.6 or more)."""
    by_lower = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[found[0]] if found else None


def _sibling_hint(missing: str) -> str:
    """For a missing `package.module` whose package imports: the package's module closest to
    it ("; did you mean 'package.other'?"), else ""."""
    parent, _, leaf = missing.rpartition(".")
    if not parent:
        return ""
    try:
        package = importlib.import_module(parent)
    except Exception:  # the hint is a nicety; the error itself names the module
        return ""
    names = [m.name for m in pkgutil.iter_modules(getattr(package, "__path__", []))]
    guess = _close_match(leaf, names)
    return f"; did you mean '{parent}.{guess}'?" if guess else ""


def _import_failed(where: str, name: str, exc: BaseException) -> ConfigError:
    """The module `name` was found, but importing it raised `exc` (a SyntaxError, a NameError,
    a dependency that is not installed...): say where, and that the module's code is at
    fault, not PYTHONPATH."""
    message = str(exc)
    if isinstance(exc, SyntaxError):
        message, at = str(exc.msg), f"{exc.filename}, line {exc.lineno}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if "importlib" not in f.filename] or frames
        at = f"{own[-1].filename}, line {own[-1].lineno}" if own else "?"
    fix = (
        f"install the package it imports ({exc.name!r})"
        if isinstance(exc, ModuleNotFoundError)
        else "fix that module's code"
    )
    return ConfigError(
        f"{where}: module {name!r} was found, but importing it failed: "
        f"{type(exc).__name__}: {message} ({at}); {fix}"
    )


def output_ref(text: str | OutputRef, where: str) -> OutputRef:
    """OutputRef from "node.output" (ConfigError otherwise)."""
    if isinstance(text, OutputRef):
        return text
    match = _OUTPUT.match(str(text))
    if match is None:
        raise ConfigError(
            f"{where}: expected 'node.output' (e.g. ingest_text.examples), got {text!r}"
        )
    return OutputRef(match["node"], match["output"])


def _refs(mapping: Any, where: str) -> dict[str, OutputRef]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping of name: node.output, got {mapping!r}")
    return {str(k): output_ref(v, f"{where}.{k}") for k, v in mapping.items()}


def rewire(pipeline: Pipeline, node_id: str, inputs: Mapping[str, str | OutputRef]) -> Pipeline:
    """`pipeline` with some inputs of `node_id` pointed elsewhere ("node.output" each)."""
    where = f"components.{node_id}.inputs"
    refs = _refs(inputs, where)
    node = _node(pipeline, node_id, where)
    unknown = sorted(set(refs) - set(node.component.inputs))
    if unknown:
        raise WiringError(
            f"{where}: node '{node_id}' has inputs {sorted(node.component.inputs)}, got {unknown}"
        )
    changed = dataclasses.replace(
        node,
        inputs={**node.inputs, **refs},
        explicit_inputs=node.explicit_inputs | frozenset(refs),
    )
    nodes = [changed if n.node_id == node_id else n for n in pipeline.nodes]
    return dataclasses.replace(pipeline, nodes=nodes)


def _node(pipeline: Pipeline, node_id: str, where: str) -> Node:
    try:
        return pipeline.node(node_id)
    except KeyError:
        raise ConfigError(
            f"{where}: no node '{node_id}' in the pipeline; nodes: "
            f"{[n.node_id for n in pipeline.nodes]}"
        ) from None


def add_node(
    pipeline: Pipeline,
    node_id: str,
    component: str | Component,
    *,
    inputs: Mapping[str, str | OutputRef] | None = None,
    config: Any = None,
    replaces: Mapping[str, str | OutputRef] | None = None,
) -> Pipeline:
    """`pipeline` with one more node running `component` (a Component or "module:ATTRIBUTE").

    Args:
        inputs: the node's input name -> "node.output" of an existing node.
        config: its config dataclass, or a mapping of the fields (validated like YAML), or
            None for the defaults.
        replaces: the node's output name -> "node.output" it stands in for: every node
            downstream reading that output reads this node's instead. The node's own upstream
            nodes and explicitly wired inputs (custom nodes' `inputs`, `rewire`) keep theirs.
    """
    where = f"components.{node_id}"
    if any(n.node_id == node_id for n in pipeline.nodes):
        raise ConfigError(f"{where}: a node '{node_id}' already exists; choose another id")
    loaded = load_component(component, f"{where}.component")
    if not isinstance(config, loaded.config_type):
        config = build_dataclass(loaded.config_type, config, f"{where}.config")
    refs = _refs(inputs, f"{where}.inputs")
    node = Node(loaded, config, refs, id=node_id, explicit_inputs=frozenset(refs))
    substitutes = {}
    for output, target in _refs(replaces, f"{where}.replaces").items():
        if output not in loaded.outputs:
            raise WiringError(
                f"{where}.replaces: '{node_id}' has outputs {sorted(loaded.outputs)}, got "
                f"{output!r}"
            )
        substitutes[target] = OutputRef(node_id, output)
    # `replaces` rewires what is downstream of the new node only: its own ancestors keep
    # their inputs (swapping them would make it read itself, a cycle), and so does any input
    # wired explicitly (another custom node's `inputs:`, rewire()): explicit wiring wins.
    upstream_ids = _ancestor_ids(pipeline, {ref.node_id for ref in refs.values()})
    nodes = []
    for existing in pipeline.nodes:
        if existing.node_id in upstream_ids:
            nodes.append(existing)
            continue
        swapped = {
            name: ref if name in existing.explicit_inputs else substitutes.get(ref, ref)
            for name, ref in existing.inputs.items()
        }
        nodes.append(dataclasses.replace(existing, inputs=swapped))
    # Place it right after its last upstream, so it runs as early as its inputs allow.
    upstream = {ref.node_id for ref in node.inputs.values()}
    at = max((i + 1 for i, n in enumerate(nodes) if n.node_id in upstream), default=0)
    nodes.insert(at, node)
    return dataclasses.replace(pipeline, nodes=nodes)


def _ancestor_ids(pipeline: Pipeline, node_ids: set[str]) -> set[str]:
    """`node_ids` and every node they read from, directly or not (unknown ids kept as they
    are: the Pipeline's own check names them)."""
    by_id = {n.node_id: n for n in pipeline.nodes}
    found: set[str] = set()
    frontier = list(node_ids)
    while frontier:
        node_id = frontier.pop()
        if node_id in found:
            continue
        found.add(node_id)
        if node_id in by_id:
            frontier.extend(ref.node_id for ref in by_id[node_id].inputs.values())
    return found


def split_components(
    components: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Mapping[str, Any]], dict[str, Any]]:
    """Splits a YAML `components:` mapping into (entries for the pipeline kind's builder, with
    `inputs:` removed; custom node specs by node id; input rewiring by node id)."""
    standard: dict[str, Any] = {}
    custom: dict[str, Mapping[str, Any]] = {}
    rewiring: dict[str, Any] = {}
    for node_id, entry in components.items():
        if isinstance(entry, Mapping) and "component" in entry:
            unknown = sorted(set(map(str, entry)) - CUSTOM_KEYS)
            if unknown:
                raise ConfigError(
                    f"components.{node_id}: unknown key(s) {unknown}; a custom node takes "
                    f"{sorted(CUSTOM_KEYS)}"
                )
            for key, what in (("inputs", "input"), ("replaces", "output")):
                value = entry.get(key)
                if value is not None and not isinstance(value, Mapping):
                    raise ConfigError(
                        f"components.{node_id}.{key}: expected a mapping of the node's {what} "
                        f"name -> NODE.OUTPUT (e.g. {{examples: ingest_text.examples}}), got "
                        f"{value!r}"
                    )
            custom[node_id] = entry
            continue
        if isinstance(entry, Mapping) and "inputs" in entry:
            entry = dict(entry)
            rewiring[node_id] = entry.pop("inputs")
        standard[node_id] = entry
    return standard, custom, rewiring


def apply_custom(
    pipeline: Pipeline, custom: Mapping[str, Mapping[str, Any]], rewiring: Mapping[str, Any]
) -> Pipeline:
    """Adds the custom nodes (in order), then applies explicit rewiring."""
    pending = dict(custom)
    while pending:
        # Custom nodes may feed each other: add first those whose upstream nodes exist.
        known = {n.node_id for n in pipeline.nodes}
        ready = [
            node_id
            for node_id, spec in pending.items()
            if all(str(ref).split(".")[0] in known for ref in (spec.get("inputs") or {}).values())
        ] or [next(iter(pending))]  # none ready: add one anyway, for its clear error
        for node_id in ready:
            spec = pending.pop(node_id)
            pipeline = add_node(
                pipeline,
                node_id,
                spec["component"],
                inputs=spec.get("inputs"),
                config=spec.get("config"),
                replaces=spec.get("replaces"),
            )
    for node_id, inputs in rewiring.items():
        pipeline = rewire(pipeline, node_id, inputs)
    return pipeline
