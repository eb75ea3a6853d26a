"""Components from outside seqline: wired by import path from YAML or Python, cached, and rerun
when their code changes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.custom_nodes import add_node, rewire
from seqline.pipeline.dag import OutputRef
from seqline.pipeline.errors import ConfigError, WiringError
from tests.pipeline.test_runner import make_pipeline

REPO = Path(__file__).resolve().parents[2]

DOUBLE = textwrap.dedent(
    """
    import json
    import os
    from dataclasses import dataclass

    from seqline.pipeline.component import Component

    from steps.arith import FACTOR


    @dataclass(frozen=True)
    class DoubleConfig:
        offset: int = 0


    def run(ctx):
        with open(os.path.join(ctx.inputs["examples"].uri, "numbers.json")) as f:
            numbers = json.load(f)
        out = ctx.outputs["examples"]
        with open(os.path.join(out.uri, "numbers.json"), "w") as f:
            json.dump([n * FACTOR + ctx.config.offset for n in numbers], f)
        # The Examples contract the runner checks: splits listed, a shard in each.
        os.makedirs(os.path.join(out.uri, "train"))
        open(os.path.join(out.uri, "train", "data-00000-of-00001.tfrecord.gz"), "wb").close()
        out.properties.update({"count": len(numbers), "splits": ["train"]})
        return {"count": len(numbers)}


    COMPONENT = Component(
        name="double",
        inputs={"examples": "Examples"},
        outputs={"examples": "Examples"},
        config_type=DoubleConfig,
        executor=run,
    )
    """
)

RUN = """
import json, sys
from seqline.pipeline.custom_nodes import add_node, rewire
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

pipeline = add_node(make_pipeline(sys.argv[1]), "double", "steps.double:COMPONENT",
                    inputs={"examples": "write_numbers.examples"}, config={"offset": 0},
                    replaces={"examples": "write_numbers.examples"})
result = run_pipeline(pipeline)
print(json.dumps({"statuses": {n.node_id: n.status for n in result.nodes},
                  "total": result.node("sum_numbers").outputs["model"].properties["total"]}))
"""


@pytest.fixture
def steps(tmp_path):
    """A package `steps` in a temporary folder, outside seqline."""
    folder = tmp_path / "outside" / "steps"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "arith.py").write_text("FACTOR = 2\n")
    (folder / "double.py").write_text(DOUBLE)
    return folder


def run_outside(steps_folder: Path, root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(steps_folder.parent), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(root)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_an_outside_component_runs_is_cached_and_reruns_when_its_code_changes(steps, tmp_path):
    root = tmp_path / "root"
    first = run_outside(steps, root)
    assert first["statuses"] == {
        "write_numbers": "COMPLETE",
        "double": "COMPLETE",
        "sum_numbers": "COMPLETE",
    }
    assert first["total"] == 20  # sum_numbers reads the doubled numbers (replaces)
    second = run_outside(steps, root)
    assert set(second["statuses"].values()) == {"CACHED"}

    # A module of the component's own package that it imports is part of its code.
    (steps / "arith.py").write_text("FACTOR = 3  # tripled now\n")
    third = run_outside(steps, root)
    assert third["statuses"] == {
        "write_numbers": "CACHED",
        "double": "COMPLETE",
        "sum_numbers": "COMPLETE",
    }
    assert third["total"] == 30


TEXT_YAML = """
name: scrubbed
kind: text
root: out
components:
  ingest_text: {source: data.csv, labels: [neg, pos]}
  scrub:
    component: steps.double:COMPONENT
    inputs: {examples: ingest_text.examples}
    replaces: {examples: ingest_text.examples}
    config: {offset: 1}
  evaluate:
    inputs: {examples: ingest_text.examples}
    beat_baseline: [accuracy]
  push: {serving_root: serving, model_name: m}
"""


def test_yaml_places_a_custom_node_and_rewires_downstream_readers(steps, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(steps.parent))
    config = tmp_path / "p.yaml"
    config.write_text(TEXT_YAML)
    pipeline = load_pipeline(config)
    order = [n.node_id for n in pipeline.nodes]
    assert order.index("ingest_text") < order.index("scrub") < order.index("statistics")
    scrubbed = OutputRef("scrub", "examples")
    assert pipeline.node("statistics").inputs["examples"] == scrubbed
    assert pipeline.node("transform").inputs["examples"] == scrubbed
    assert pipeline.node("infra_validate").inputs["examples"] == scrubbed
    # An explicit `inputs:` on a node wins over `replaces`.
    assert pipeline.node("evaluate").inputs["examples"] == OutputRef("ingest_text", "examples")
    assert pipeline.node("scrub").config.offset == 1


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("steps.double", "expected 'importable.module:ATTRIBUTE'"),
        ("steps.nowhere:COMPONENT", "cannot import module 'steps.nowhere'"),
        (
            "steps.double:DoubleConfig",
            "expected steps.double.DoubleConfig to be a seqline.pipeline.component.Component, "
            "got type; module 'steps.double' has the Components ['COMPONENT'] (defined or "
            "imported there): write e.g. steps.double:COMPONENT",
        ),
        # A misspelled attribute said "got NoneType", naming neither what is missing nor what
        # the module has.
        (
            "steps.double:COMPONENTT",
            "module 'steps.double' has no attribute 'COMPONENTT'; it has the Components "
            "['COMPONENT'] (defined or imported there): did you mean steps.double:COMPONENT?",
        ),
        ("steps.double:component", "did you mean steps.double:COMPONENT?"),
        (
            "steps.double:SCRUB",
            "has no attribute 'SCRUB'; it has the Components ['COMPONENT'] (defined or imported "
            "there): write e.g. steps.double:COMPONENT",
        ),
        (
            "steps.arith:COMPONENT",
            "module 'steps.arith' has no attribute 'COMPONENT'; it has no Component among its "
            "names: point at a module that has one",
        ),
        (
            "steps.dobule:COMPONENT",
            "cannot import module 'steps.dobule' (No module named 'steps.dobule'; did you mean "
            "'steps.double'?); install its package or put its folder on PYTHONPATH",
        ),
    ],
)
def test_bad_component_references_are_config_errors(steps, monkeypatch, reference, message):
    monkeypatch.syspath_prepend(str(steps.parent))
    for name in [m for m in sys.modules if m == "steps" or m.startswith("steps.")]:
        monkeypatch.delitem(sys.modules, name)  # an earlier test's `steps` is elsewhere
    with pytest.raises(ConfigError, match=re.escape(message)):
        add_node(
            make_pipeline("root"), "x", reference, inputs={"examples": "write_numbers.examples"}
        )


def test_a_yaml_node_key_that_would_leave_the_root_is_refused_when_the_config_is_read(
    steps, tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(steps.parent))
    config = tmp_path / "p.yaml"
    config.write_text(TEXT_YAML.replace("  scrub:\n", "  ../scrub:\n"))
    assert "../scrub:" in config.read_text()
    with pytest.raises(ConfigError, match=re.escape("got '../scrub'. Rename the node")):
        load_pipeline(config)


def test_wiring_mistakes_name_the_node(steps, monkeypatch):
    monkeypatch.syspath_prepend(str(steps.parent))
    base = make_pipeline("root")
    with pytest.raises(WiringError, match="node 'x' input 'examples' refers to unknown node"):
        add_node(base, "x", "steps.double:COMPONENT", inputs={"examples": "nope.examples"})
    with pytest.raises(ConfigError, match="components.x.config: unknown field"):
        add_node(
            base,
            "x",
            "steps.double:COMPONENT",
            inputs={"examples": "write_numbers.examples"},
            config={"factor": 2},
        )
    with pytest.raises(ConfigError, match="a node 'write_numbers' already exists"):
        add_node(base, "write_numbers", "steps.double:COMPONENT")


def test_chained_custom_nodes_the_second_replacing_the_first_ones_input(steps, monkeypatch):
    """dedupe reads write_numbers.examples; scrub reads dedupe.examples and replaces
    write_numbers.examples. Swapping dedupe's own input too made scrub read itself (a false
    cycle)."""
    monkeypatch.syspath_prepend(str(steps.parent))
    pipeline = add_node(
        make_pipeline("root"),
        "dedupe",
        "steps.double:COMPONENT",
        inputs={"examples": "write_numbers.examples"},
    )
    # A custom node downstream of nothing new, wired explicitly: it keeps what it names.
    pipeline = add_node(
        pipeline, "profile", "steps.double:COMPONENT", inputs={"examples": "write_numbers.examples"}
    )
    pipeline = add_node(
        pipeline,
        "scrub",
        "steps.double:COMPONENT",
        inputs={"examples": "dedupe.examples"},
        replaces={"examples": "write_numbers.examples"},
    )
    raw, scrubbed = OutputRef("write_numbers", "examples"), OutputRef("scrub", "examples")
    assert pipeline.node("dedupe").inputs["examples"] == raw
    assert pipeline.node("profile").inputs["examples"] == raw
    assert pipeline.node("scrub").inputs["examples"] == OutputRef("dedupe", "examples")
    assert pipeline.node("sum_numbers").inputs["examples"] == scrubbed
    order = [n.node_id for n in pipeline.nodes]
    assert order.index("dedupe") < order.index("scrub") < order.index("sum_numbers")


def test_a_rewired_input_is_kept_by_a_later_replaces(steps, monkeypatch):
    monkeypatch.syspath_prepend(str(steps.parent))
    pipeline = add_node(
        make_pipeline("root"),
        "other",
        "steps.double:COMPONENT",
        inputs={"examples": "write_numbers.examples"},
    )
    pipeline = rewire(pipeline, "sum_numbers", {"examples": "write_numbers.examples"})
    pipeline = add_node(
        pipeline,
        "scrub",
        "steps.double:COMPONENT",
        inputs={"examples": "write_numbers.examples"},
        replaces={"examples": "write_numbers.examples"},
    )
    assert pipeline.node("sum_numbers").inputs["examples"] == OutputRef("write_numbers", "examples")


CHAIN_YAML = """
name: chained
kind: text
root: out
components:
  ingest_text: {source: data.csv, labels: [neg, pos]}
  scrub:
    component: steps.double:COMPONENT
    inputs: {examples: dedupe.examples}
    replaces: {examples: ingest_text.examples}
  dedupe:
    component: steps.double:COMPONENT
    inputs: {examples: ingest_text.examples}
  evaluate: {beat_baseline: [accuracy]}
  push: {serving_root: serving, model_name: m}
"""


def test_yaml_chains_custom_nodes_whatever_their_order(steps, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(steps.parent))
    config = tmp_path / "p.yaml"
    config.write_text(CHAIN_YAML)
    pipeline = load_pipeline(config)
    assert pipeline.node("dedupe").inputs["examples"] == OutputRef("ingest_text", "examples")
    for node_id in ("statistics", "schema", "transform", "evaluate", "infra_validate"):
        assert pipeline.node(node_id).inputs["examples"] == OutputRef("scrub", "examples")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def broken(:\n", r"SyntaxError: invalid syntax \(.*broken.py, line 1\); fix that module"),
        ("X = 1\nCOMPONENT = undefined_name\n", r"NameError: .*undefined_name.* line 2\); fix"),
        (
            "import not_installed_xyz\n",
            r"ModuleNotFoundError: .*'not_installed_xyz' .*line 1\); install the package it "
            r"imports \('not_installed_xyz'\)",
        ),
    ],
)
def test_a_component_module_that_fails_to_import_says_so(steps, monkeypatch, code, message):
    """The module is on PYTHONPATH; its own code fails. That said "cannot import ... put its
    folder on PYTHONPATH" with a full traceback (SyntaxError, NameError)."""
    monkeypatch.syspath_prepend(str(steps.parent))
    for name in [m for m in sys.modules if m == "steps" or m.startswith("steps.")]:
        monkeypatch.delitem(sys.modules, name)  # an earlier test's `steps` is elsewhere
    (steps / "broken.py").write_text(code)
    with pytest.raises(ConfigError) as caught:
        add_node(make_pipeline("root"), "x", "steps.broken:COMPONENT")
    text = str(caught.value)
    assert text.startswith("components.x.component: module 'steps.broken' was found, but ")
    assert re.search(message, text), text
    assert "PYTHONPATH" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("key", ["inputs", "replaces"])
def test_a_custom_nodes_inputs_or_replaces_as_a_list_is_a_config_error(key):
    """`inputs: [ingest_text.examples]` crashed with an AttributeError traceback."""
    from seqline.pipeline.custom_nodes import split_components

    entry = {"component": "steps.double:COMPONENT", key: ["ingest_text.examples"]}
    with pytest.raises(ConfigError, match=rf"components.scrub.{key}: expected a mapping of") as e:
        split_components({"scrub": entry})
    assert "{examples: ingest_text.examples}" in str(e.value)
    assert "got ['ingest_text.examples']" in str(e.value)


def test_a_libraries_entry_that_is_not_installed_is_warned_about_once(
    tmp_path, monkeypatch, caplog
):
    """A misspelled `libraries=` entry was hashed as "absent" without a word, so upgrading the
    real distribution never reran the node."""
    folder = tmp_path / "libs_pkg_x"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "comp.py").write_text(
        DOUBLE.replace("from steps.arith import FACTOR", "FACTOR = 2").replace(
            "executor=run,", 'executor=run, libraries=("pyyaml", "no-such-dist-xyz", "PyYML"),'
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reference = "libs_pkg_x.comp:COMPONENT"
    with caplog.at_level("WARNING", logger="seqline.pipeline.custom_nodes"):
        for _ in range(2):  # loaded twice (a DAG parsed again): one warning per entry
            add_node(
                make_pipeline("root"), "x", reference, inputs={"examples": "write_numbers.examples"}
            )
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    missing, misspelled = messages
    assert missing.startswith(
        "components.x.component: component 'double' lists libraries entry 'no-such-dist-xyz', "
        "which is not an installed distribution"
    )
    assert "upgrading it will not rerun the node" in missing
    assert "did you mean 'PyYAML'?" in misspelled
    assert "'pyyaml'" not in " ".join(messages)  # installed: no warning
