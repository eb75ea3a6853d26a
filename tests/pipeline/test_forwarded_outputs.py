"""Component.forwards: a gate node (validate) passes on the input it checked. Downstream
nodes key their cache on that input's content, so changing only the gate's config (a drift
threshold) reruns the gate, not transform and train; they still wait for the gate, so a gate
that blocks still stops them."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace

import pytest

from seqline.components.text_pipeline import text_pipeline
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ComponentFailed
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
