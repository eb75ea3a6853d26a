"""Per-component reference text, generated from the components themselves.

`component_reference(components)` renders, for each Component: its name and version, the
docstring of the module that defines its executor, its wired, optional and resolved inputs and
its outputs with their artifact types, and its config dataclass's docstring (the YAML keys and
their defaults). docs/components.md is this text for every pipeline kind
(scripts/component_reference.py writes it; a test checks it matches), so the reference cannot
drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Iterable

from seqline.pipeline.component import Component


def _module_doc(component: Component) -> str:
    function = component.function or component.executor
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    return inspect.cleandoc(module.__doc__ or "") if module else ""


def _defaults(config_type: type) -> list[str]:
    rows = []
    for f in dataclasses.fields(config_type):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            default = (
                type(value).__name__ + "()" if dataclasses.is_dataclass(value) else repr(value)
            )
        else:
            default = "required"
        rows.append(f"| `{f.name}` | `{default}` |")
    return rows


def component_section(component: Component, node_id: str) -> str:
    """Markdown for one component behind node `node_id`."""
    lines = [f"### `{node_id}`: {component.name} (version {component.version})", ""]
    doc = _module_doc(component)
    if doc:
        lines += [doc, ""]
    lines += ["| port | artifact type | how it arrives |", "| --- | --- | --- |"]
    for name, type_name in component.inputs.items():
        how = "optional input" if name in component.optional else "wired input"
        lines.append(f"| `{name}` | {type_name} | {how} |")
    for name, resolver in component.resolved.items():
        lines.append(f"| `{name}` | {resolver.type_name} | resolved by {type(resolver).__name__} |")
    for name, type_name in component.outputs.items():
        lines.append(f"| `{name}` | {type_name} | output |")
    config = component.config_type
    lines += ["", f"Config `{config.__name__}`:", ""]
    config_doc = inspect.cleandoc(config.__doc__ or "")
    if config_doc:
        lines += ["```text", config_doc, "```", ""]
    lines += ["| key | default |", "| --- | --- |", *_defaults(config), ""]
    return "\n".join(lines)


def component_reference(kinds: Iterable[tuple[str, dict[str, Component]]]) -> str:
    """The whole reference: one section per pipeline kind, in pipeline order; a component
    shared by several kinds is described once, where it first appears."""
    out = [
        "# Component reference",
        "",
        "Generated from the components' docstrings and signatures by",
        "`python scripts/component_reference.py`; do not edit by hand (a test checks it).",
        "",
    ]
    seen: set[str] = set()
    for kind, components in kinds:
        out += [f"## Pipeline kind `{kind}`", ""]
        for node_id, component in components.items():
            if component.name in seen:
                out += [f"### `{node_id}`: {component.name}", "", "Described above.", ""]
                continue
            seen.add(component.name)
            out.append(component_section(component, node_id))
    return "\n".join(out).rstrip() + "\n"
