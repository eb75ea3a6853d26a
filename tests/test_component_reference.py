"""docs/components.md is generated from the components and must match them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from seqline.pipeline.reference import component_section
from tests.pipeline import toy_components

ROOT = Path(__file__).resolve().parent.parent


def test_docs_components_md_matches_the_code() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "component_reference", ROOT / "scripts" / "component_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    actual = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert actual == expected, "run `python scripts/component_reference.py` and commit"


def test_a_section_lists_ports_config_keys_and_defaults() -> None:
    component = toy_components.SUM_NUMBERS
    text = component_section(component, "sum")
    for name in component.inputs:
        assert f"`{name}`" in text
    for name in component.outputs:
        assert f"| `{name}` |" in text and "| output |" in text
    for f in dataclasses.fields(component.config_type):
        assert f"| `{f.name}` |" in text
