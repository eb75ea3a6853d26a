"""`seqline new-component NAME --dir DIR`: a working skeleton of an out-of-tree component.

    DIR/NAME/__init__.py
    DIR/NAME/config.py       the frozen config dataclass (its fields are the YAML keys)
    DIR/NAME/logic.py        the pure core: plain functions, tested directly
    DIR/NAME/component.py    the thin shell: COMPONENT = Component(...)
    DIR/tests/test_NAME.py   tests of the core and of the component through run_component

The skeleton keeps chosen splits of an Examples artifact (no TensorFlow needed), so its test
passes as written; replace the logic with yours. Nothing of seqline is edited: wire it from a
pipeline YAML by import path (see docs/extending.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import os
import re
import sys
from pathlib import Path

from seqline.pipeline.errors import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

INIT = '''"""{name}: a seqline component (see component.py)."""
'''

CONFIG = '''"""{name}'s config: the `config:` mapping of its node in a pipeline YAML."""

from __future__ import annotations

from dataclasses import dataclass

from seqline.pipeline.errors import ConfigError


@dataclass(frozen=True)
class {title}Config:
    """Attributes:
    splits: the splits to keep, e.g. ["train", "eval"]; empty keeps every split.
    """

    splits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.splits)) != len(self.splits):
            raise ConfigError(f"splits: expected distinct names, got {{list(self.splits)}}")
'''

LOGIC = '''"""{name}'s pure core: plain functions, no Beam, no TensorFlow (tests call them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seqline.pipeline.errors import DataError


def kept_splits(available: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The splits to keep, in the artifact's order: `wanted`, or all when it is empty.

    Raises:
        DataError: a wanted split is not in the artifact.
    """
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise DataError(
            f"{name}: expected splits among {{list(available)}}, got {{unknown}}; fix "
            "{name}.splits in the pipeline config"
        )
    return [s for s in available if not wanted or s in wanted]


def output_properties(properties: Mapping[str, Any], splits: Sequence[str]) -> dict[str, Any]:
    """The input's properties restricted to `splits` (per-split mappings filtered too)."""
    kept = dict(properties)
    kept["splits"] = list(splits)
    for key, value in properties.items():
        if isinstance(value, Mapping) and set(value) & set(properties.get("splits", [])):
            kept[key] = {{s: v for s, v in value.items() if s in splits}}
    return kept
'''

COMPONENT = '''"""{name}: Examples -> Examples with only the configured splits.

Inputs:
    examples (Examples): one folder per split under the artifact's uri.
Outputs:
    examples (Examples): the kept split folders, unchanged, and the input's properties
        restricted to them.
"""

from __future__ import annotations

from typing import Any

from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext

from {name}.config import {title}Config
from {name}.logic import kept_splits, output_properties


def run(ctx: ExecutionContext) -> dict[str, Any]:
    """Executor: copies the kept splits; returns {{"splits": [...]}}."""
    from seqline.storage import filesystem

    config: {title}Config = ctx.config
    examples, out = ctx.inputs["examples"], ctx.outputs["examples"]
    splits = kept_splits(examples.properties.get("splits", []), config.splits)
    for split in splits:
        ctx.progress(f"copying split {{split}}")
        filesystem.copytree(examples.path(split), out.path(split))
    out.properties.update(output_properties(examples.properties, splits))
    return {{"splits": splits}}


COMPONENT = Component(
    name="{name}",
    inputs={{"examples": ArtifactType.EXAMPLES}},
    outputs={{"examples": ArtifactType.EXAMPLES}},
    config_type={title}Config,
    executor=run,
)
'''

TEST = '''"""Tests of {name}: the pure core directly, the component as the runner runs it."""

from __future__ import annotations

import pytest
from seqline.pipeline.errors import DataError
from seqline.pipeline.harness import input_artifact, run_component

from {name}.component import COMPONENT
from {name}.logic import kept_splits


def test_kept_splits_keeps_the_wanted_ones_in_artifact_order():
    assert kept_splits(["train", "eval"], ["eval"]) == ["eval"]
    assert kept_splits(["train", "eval"], []) == ["train", "eval"]
    with pytest.raises(DataError, match="got \\\\['test'\\\\]"):
        kept_splits(["train"], ["test"])


def test_component_publishes_the_kept_split(tmp_path):
    for split in ("train", "eval"):
        (tmp_path / "in" / split).mkdir(parents=True)
        (tmp_path / "in" / split / "data-00000-of-00001.tfrecord.gz").write_bytes(b"x")
    examples = input_artifact(
        "Examples", tmp_path / "in", splits=["train", "eval"], counts={{"train": 8, "eval": 2}}
    )
    result = run_component(
        COMPONENT, {{"splits": ["eval"]}}, {{"examples": examples}}, root=tmp_path / "root"
    )
    out = result.outputs["examples"]
    assert out.properties == {{"splits": ["eval"], "counts": {{"eval": 2}}}}
    published = tmp_path / "root" / "{name}" / "examples" / result.fingerprint
    assert out.uri == str(published)
    assert (published / "eval").is_dir() and not (published / "train").exists()
'''

# `splits: []` keeps every split: with `replaces`, every node after ingest reads this node's
# output, and evaluate reads the test split (a list without it fails evaluate after training).
YAML_HINT = """  {name}:
    component: {name}.component:COMPONENT
    inputs: {{examples: ingest_text.examples}}
    replaces: {{examples: ingest_text.examples}}   # every node after ingest reads its output
    config: {{splits: []}}   # [] keeps every split; evaluate reads test, train train and eval"""

# Folders the skeleton writes besides the package itself.
_RESERVED = frozenset({"tests"})


def built_in_node_ids() -> set[str]:
    """The node ids of the installed pipeline kinds (the `seqline.pipelines` entry points whose
    module has a `KIND` with `components()`, as components/text_pipeline.py does)."""
    from seqline.pipeline.config_file import pipeline_kinds

    ids: set[str] = set()
    for entry_point in pipeline_kinds().values():
        try:
            module = importlib.import_module(entry_point.module)
        except Exception:  # a broken extension kind: `seqline run` reports it where it is used
            continue
        components = getattr(getattr(module, "KIND", None), "components", None)
        if callable(components):
            ids.update(components(tuned=True))
    return ids


def _name_problem(name: str) -> str | None:
    """Why `name` cannot be a new component's package (and node id) although it is a valid
    identifier, or None."""
    if name in sys.stdlib_module_names:
        return (
            f"'{name}' is a module of Python's standard library: a package of that name would "
            "shadow it (or be shadowed by it) for everything on that PYTHONPATH"
        )
    if name in _RESERVED:
        return f"'{name}' is the folder the skeleton writes its tests into"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        places = [spec.origin or "", *(spec.submodule_search_locations or [])]
        where = next((p for p in places if os.path.exists(p)), "an installed package")
        return (
            f"a module '{name}' is already importable ({where}): the two would shadow each "
            "other on PYTHONPATH"
        )
    if name in built_in_node_ids():
        return (
            f"'{name}' is the id of a built-in pipeline node, and the node id in a pipeline "
            "YAML is the component's name"
        )
    return None


def new_component(name: str, directory: str | os.PathLike[str]) -> list[Path]:
    """Writes the skeleton of component `name` under `directory`; returns the files written.

    Raises:
        ConfigError: `name` is not a lowercase Python identifier; it names a standard library
            module, a module already importable, or a built-in node; or a file already exists.
    """
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"component name: expected a lowercase Python identifier such as 'pii_scrub', "
            f"got {name!r}"
        )
    problem = _name_problem(name)
    if problem is not None:
        raise ConfigError(
            f"component name: {problem}; got {name!r}. Choose a name of your own, e.g. "
            f"'{name}_step' or your team's prefix such as 'acme_{name}'"
        )
    title = "".join(part.capitalize() for part in name.split("_"))
    root = Path(directory)
    files = {
        root / name / "__init__.py": INIT,
        root / name / "config.py": CONFIG,
        root / name / "logic.py": LOGIC,
        root / name / "component.py": COMPONENT,
        root / "tests" / f"test_{name}.py": TEST,
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise ConfigError(f"new-component: would overwrite {existing}; choose another --dir")
    # Before the first file: a folder on the way that is a file would stop the writing halfway.
    for folder in dict.fromkeys(path.parent for path in files):
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise ConfigError(
                f"new-component --dir: expected a folder (or a path to create one), but "
                f"{str(blocker)!r} is a file; choose another --dir"
            )
    for path, template in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(name=name, title=title), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"new-component: cannot write {str(path)!r} ({exc.strerror or exc}); choose "
                "another --dir"
            ) from None
    return list(files)


def next_steps(name: str, directory: str) -> str:
    """What to do after new_component, for the CLI to print."""
    return (
        f"test it:      PYTHONPATH={directory} python -m pytest {directory}/tests\n"
        f"wire it: add to a pipeline YAML's components (with {directory} on PYTHONPATH):\n"
        + YAML_HINT.format(name=name)
    )
