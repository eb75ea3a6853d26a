"""Component.forwards: a gate node (validate) passes on the input it checked. Downstream
nodes key their cache on that input's content, so changing only the gate's config (a drift
threshold) reruns the gate, not transform and train; they still wait for the gate, so a gate
that blocks still stops them."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from seqline.components.text_pipeline import text_pipeline
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ComponentFailed
from seqline.pipeline.harness import run_component
from seqline.pipeline.runner import compute_fingerprints, run_pipeline
from tests.pipeline import toy_components as toy


@dataclass(frozen=True)
class GateConfig:
    max_count: int = 100


def gate(ctx: ExecutionContext) -> dict:
    examples = ctx.inputs["examples"]
    count = examples.properties["count"]
    if count > ctx.config.max_count:
        raise ValueError(f"{count} numbers > max_count {ctx.config.max_count}")
    out = ctx.outputs["checked"]
    shutil.copytree(examples.uri, out.uri, dirs_exist_ok=True)
    out.properties["count"] = count
    toy.complete_examples(out)
    return {"passed": True}


GATE = Component(
    name="gate",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"checked": ArtifactType.EXAMPLES},
    config_type=GateConfig,
    executor=gate,
    forwards={"checked": "examples"},
)


def gated_pipeline(root, count: int = 5, max_count: int = 100, scale: int = 1) -> Pipeline:
    return Pipeline(
        "gated",
        str(root),
        [
            Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig(count=count)),
            Node(GATE, GateConfig(max_count), {"examples": OutputRef("write_numbers", "examples")}),
            Node(
                toy.SUM_NUMBERS,
                toy.SumConfig(scale=scale),
                {"examples": OutputRef("gate", "checked")},
            ),
        ],
    )


@dataclass(frozen=True)
class CopierConfig:
    add: int = 0


def copier(ctx: ExecutionContext) -> dict:
    """A node that keeps its input's properties, as the `seqline new-component` skeleton
    does, and changes the content."""
    examples = ctx.inputs["examples"]
    out = ctx.outputs["examples"]
    numbers = json.loads((Path(examples.uri) / "numbers.json").read_text())
    (Path(out.uri) / "numbers.json").write_text(json.dumps([n + ctx.config.add for n in numbers]))
    out.properties.update(examples.properties)
    toy.complete_examples(out)
    return {}


COPIER = Component(
    name="copier",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=CopierConfig,
    executor=copier,
)


def statuses(result) -> dict[str, str]:
    return {n.node_id: n.status for n in result.nodes}


def test_changing_only_the_gate_reruns_the_gate_not_its_consumers(tmp_path) -> None:
    first = run_pipeline(gated_pipeline(tmp_path, max_count=100))
    assert statuses(first) == dict.fromkeys(["write_numbers", "gate", "sum_numbers"], "COMPLETE")
    checked = first.node("gate").outputs["checked"]
    assert checked.content_fingerprint == first.node("write_numbers").fingerprint
    assert checked.fingerprint == first.node("gate").fingerprint  # its own URI, as always
    assert os.path.basename(checked.uri) == checked.fingerprint

    second = run_pipeline(gated_pipeline(tmp_path, max_count=50))
    assert statuses(second) == {
        "write_numbers": "CACHED",
        "gate": "COMPLETE",
        "sum_numbers": "CACHED",
    }
    assert second.node("sum_numbers").fingerprint == first.node("sum_numbers").fingerprint
    # The static fingerprints (no run) agree with what the runner computed.
    assert compute_fingerprints(gated_pipeline(tmp_path, max_count=50)) == {
        n.node_id: n.fingerprint for n in second.nodes
    }


def test_new_content_still_reruns_the_consumers(tmp_path) -> None:
    first = run_pipeline(gated_pipeline(tmp_path, count=5))
    second = run_pipeline(gated_pipeline(tmp_path, count=6))
    assert statuses(second) == dict.fromkeys(["write_numbers", "gate", "sum_numbers"], "COMPLETE")
    assert second.node("sum_numbers").outputs["model"].properties["total"] == 15
    assert second.node("sum_numbers").fingerprint != first.node("sum_numbers").fingerprint


def test_a_gate_that_blocks_still_stops_its_consumers(tmp_path) -> None:
    run_pipeline(gated_pipeline(tmp_path, count=5, max_count=100))
    with pytest.raises(ComponentFailed, match="max_count 3"):
        run_pipeline(gated_pipeline(tmp_path, count=5, max_count=3))


def test_a_node_copying_a_forwarded_inputs_properties_keys_its_own_content(tmp_path) -> None:
    """The gate's forwarded key travels in the artifact's properties; a node after it that
    copies its input's properties must not pass that key on, or what consumes its output
    would be reused when only this node changed."""

    def pipeline(add: int) -> Pipeline:
        gated = gated_pipeline(tmp_path).nodes[:2]
        return Pipeline(
            "copied",
            str(tmp_path),
            [
                *gated,
                Node(COPIER, CopierConfig(add), {"examples": OutputRef("gate", "checked")}),
                Node(
                    toy.SUM_NUMBERS,
                    toy.SumConfig(),
                    {"examples": OutputRef("copier", "examples")},
                ),
            ],
        )

    first = run_pipeline(pipeline(add=0))
    copied = first.node("copier").outputs["examples"]
    assert copied.content_fingerprint == first.node("copier").fingerprint
    second = run_pipeline(pipeline(add=1000))
    assert second.node("sum_numbers").status == "COMPLETE"
    assert second.node("sum_numbers").outputs["model"].properties["total"] == 10 + 5 * 1000


def test_the_harness_keys_a_forwarded_input_as_the_runner_does(tmp_path) -> None:
    result = run_pipeline(gated_pipeline(tmp_path))
    checked = result.node("gate").outputs["checked"]
    harnessed = run_component(
        toy.SUM_NUMBERS, toy.SumConfig(), {"examples": checked}, root=str(tmp_path)
    )
    assert harnessed.fingerprint == result.node("sum_numbers").fingerprint


@pytest.mark.parametrize(
    ("forwards", "expected"),
    [
        ({"nope": "examples"}, "expected an output"),
        ({"checked": "nope"}, "wired, required input"),
    ],
)
def test_a_wrong_forwards_declaration_is_refused(forwards, expected) -> None:
    with pytest.raises(TypeError, match=expected):
        replace(GATE, forwards=forwards)


def test_a_forwarded_output_must_have_its_inputs_type() -> None:
    with pytest.raises(TypeError, match="has its input's type"):
        replace(GATE, outputs={"checked": ArtifactType.SCHEMA})


def test_text_pipeline_validate_thresholds_do_not_change_transform_or_train(tmp_path) -> None:
    def fingerprints(validate: dict, schema: dict) -> dict[str, str]:
        pipeline = text_pipeline(
            "t",
            str(tmp_path / "root"),
            ingest_text={"source": str(tmp_path / "reviews.csv"), "labels": ["neg", "pos"]},
            schema=schema,
            validate=validate,
            evaluate={"thresholds": {"accuracy": {"lower": 0.5}}},
            push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
        )
        return compute_fingerprints(pipeline)

    (tmp_path / "reviews.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    base = fingerprints({}, {})
    stricter = fingerprints({"max_empty_text_fraction": 0.01}, {})
    assert stricter["validate"] != base["validate"]
    for node in ("transform", "train", "evaluate", "push"):
        assert stricter[node] == base[node], node
    # A new contract (the schema node's own thresholds) is new content: they rerun.
    reinferred = fingerprints({}, {"reuse_inferred": False})
    assert reinferred["schema"] != base["schema"]
    assert reinferred["transform"] != base["transform"]
