"""run_component runs a component exactly as the runner does (pipeline/execution.py)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from seqline.pipeline import quarantine
from seqline.pipeline.artifact import ArtifactType, read_artifact
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.errors import ConfigError, DataError, WiringError
from seqline.pipeline.harness import input_artifact, run_component
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy
from tests.pipeline.test_runner import make_pipeline


def test_outputs_are_published_by_the_uri_rule_and_reused_like_the_runner(tmp_path):
    root = tmp_path / "root"
    pipeline_run = run_pipeline(make_pipeline(root))
    written = run_component(toy.WRITE_NUMBERS, {"count": 5}, root=root, node_id="write_numbers")
    # Same fingerprint and URI as the runner's execution: already published, so reused.
    assert written.cached
    assert written.fingerprint == pipeline_run.node("write_numbers").fingerprint

    summed = run_component(
        toy.SUM_NUMBERS,
        toy.SumConfig(scale=2),
        {"examples": written.outputs["examples"]},
        root=root,
    )
    assert not summed.cached and summed.summary == {"total": 20}
    model = summed.outputs["model"]
    assert model.uri == str(root / "sum_numbers" / "model" / summed.fingerprint)
    assert read_artifact(model.uri).properties == {"total": 20}
    assert sorted(os.listdir(root / "sum_numbers" / "model")) == sorted(
        [summed.fingerprint, pipeline_run.node("sum_numbers").fingerprint]
    )


@dataclass(frozen=True)
class ProbeConfig:
    fail: bool = False


SEEN: list[ExecutionContext] = []


def probe(ctx: ExecutionContext) -> dict:
    SEEN.append(ctx)
    assert os.path.isdir(ctx.temp_dir)
    out = ctx.outputs["rejected"]
    with open(os.path.join(out.uri, "rejected-00000-of-00001.jsonl"), "w") as f:
        f.write(json.dumps({"reason": "pii", "record": "x"}) + "\n")
    out.properties["count"] = 1

    def verdict(samples):
        if ctx.config.fail:
            raise DataError(f"1 of 1 records rejected: {samples[0]}")

    quarantine.enforce_with_samples(out.uri, verdict)
    toy.complete_examples(ctx.outputs["examples"])
    return {"rejected": 1}


PROBE = Component(
    name="probe",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"rejected": ArtifactType.REJECTED, "examples": ArtifactType.EXAMPLES},
    config_type=ProbeConfig,
    executor=probe,
)


def test_the_context_is_complete_and_scratch_is_removed(tmp_path):
    examples = input_artifact(ArtifactType.EXAMPLES, tmp_path, splits=["train"])
    result = run_component(
        PROBE, None, {"examples": examples}, root=tmp_path / "root", run_id="r1", node_id="p"
    )
    ctx = SEEN[-1]
    assert (ctx.run_id, ctx.node_id, ctx.pipeline_root) == ("r1", "p", str(tmp_path / "root"))
    assert ctx.inputs["examples"].properties == {"splits": ["train"]}
    assert not os.path.exists(ctx.temp_dir)
    assert result.outputs["rejected"].properties == {"count": 1}


def test_a_failed_component_keeps_its_outputs_under_failed(tmp_path):
    examples = input_artifact(ArtifactType.EXAMPLES, tmp_path)
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        run_component(
            PROBE, {"fail": True}, {"examples": examples}, root=root, run_id="r1", node_id="p"
        )
    kept = root / "_failed" / "r1" / "p"
    assert str(kept) in str(err.value)
    lines = (kept / "rejected" / "rejected-00000-of-00001.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["pii"]
    assert "DataError: 1 of 1 records rejected" in (kept / "error.txt").read_text()
    assert not (kept / "examples").exists()  # nothing was written there
    # nothing published, no temporaries left behind
    assert os.listdir(root / "p" / "rejected") == [] and os.listdir(root / "p" / "examples") == []


def test_inputs_and_configs_are_checked_like_the_dag_and_yaml(tmp_path):
    with pytest.raises(WiringError, match=r"expects inputs \['examples'\], got \[\]"):
        run_component(PROBE, root=tmp_path)
    schema = input_artifact(ArtifactType.SCHEMA, tmp_path)
    with pytest.raises(WiringError, match="expects a Examples, got a Schema"):
        run_component(PROBE, None, {"examples": schema}, root=tmp_path)
    with pytest.raises(ConfigError, match="components.probe"):
        run_component(PROBE, {"nope": 1}, {"examples": schema}, root=tmp_path)
