"""What the runner checks of an executor's work before publishing it: each output complete for
its type (Artifact.missing) and a summary that is a mapping of str to JSON values. A node that
breaks either fails itself, with the node and output named, and nothing half-made is cached
(found by a probe: an empty Examples was published and failed one node later, every run)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.pipeline.artifact import Artifact, ArtifactType, read_artifact
from seqline.pipeline.artifacts import Examples
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ContractError, DataError
from seqline.pipeline.harness import input_artifact, run_component
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy


@dataclass(frozen=True)
class MakeConfig:
    """What the executor writes: `make` names a filler below; `returns` what it returns."""

    make: str = "nothing"
    returns: str = "dict"


def _shard(out: Artifact, split: str) -> None:
    os.makedirs(out.path(split), exist_ok=True)
    Path(out.path(split, "data-00000-of-00001.tfrecord.gz")).write_bytes(b"")


def _fill(out: Artifact, make: str) -> None:
    if make in ("splits", "complete"):
        out.properties["splits"] = ["train", "eval"]
        _shard(out, "train")
    if make == "complete":
        _shard(out, "eval")
        Path(out.path("numbers.json")).write_text("[1, 2]")  # what toy.SUM_NUMBERS reads
    if make == "stray_file":
        Path(out.path("notes.txt")).write_text("not a shard")


RETURNS: dict[str, Any] = {
    "dict": {"rows": 3},
    "none": None,
    "list": ["not", "a", "dict"],
    "set_and_object": {"fine": 1, "s": {1, 2}, "o": object()},
    "int_key": {1: "one"},
    "numpy_and_nested": {"loss": np.float32(0.5), "n": np.int64(3), "per": {"a": [1, 2.5]}},
}


def make(ctx: ExecutionContext) -> Any:
    _fill(ctx.outputs["examples"], ctx.config.make)
    return RETURNS[ctx.config.returns]


MAKE_EXAMPLES = Component(
    name="make_examples",
    inputs={},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=MakeConfig,
    executor=make,
)


def run_make(tmp_path: Path, **config: str) -> Any:
    return run_component(MAKE_EXAMPLES, config, root=tmp_path / "root", node_id="custom")


def published(tmp_path: Path, node: str, output: str) -> list[str]:
    folder = tmp_path / "root" / node / output
    return [n for n in os.listdir(folder) if read_artifact(str(folder / n))]


def test_an_examples_output_left_empty_fails_its_node_and_nothing_is_published(tmp_path):
    with pytest.raises(ContractError) as err:
        run_make(tmp_path, make="stray_file", returns="none")
    message = str(err.value)
    assert message.startswith(
        "node 'custom': output 'examples' (Examples) lists no splits (properties['splits'] "
        "is unset or empty); an Examples output needs properties['splits']"
    )
    assert "out.split_prefix(split)" in message and "(see docs/extending.md)" in message
    assert published(tmp_path, "custom", "examples") == []
    kept = tmp_path / "root" / "_failed"
    (run,) = os.listdir(kept)
    assert (kept / run / "custom" / "examples" / "notes.txt").exists()  # kept for the user
    assert f"kept in {kept / run / 'custom'}" in message


def test_a_listed_split_without_shards_is_named(tmp_path):
    with pytest.raises(ContractError, match=r"has no files matching .* for splits \['eval'\]"):
        run_make(tmp_path, make="splits")


def test_a_complete_examples_output_is_published(tmp_path):
    result = run_make(tmp_path, make="complete")
    assert result.summary == {"rows": 3}
    assert result.outputs["examples"].splits == ["train", "eval"]
    assert published(tmp_path, "custom", "examples") == [result.fingerprint]


@pytest.mark.parametrize(
    ("type_name", "missing"),
    [
        (ArtifactType.STATISTICS, "has no statistics.pb"),
        (ArtifactType.SCHEMA, "has no schema.pbtxt"),
        (
            ArtifactType.TRANSFORMED_EXAMPLES,
            "lists no splits (properties['splits'] is unset or empty)",
        ),
        (ArtifactType.SERIES_WINDOWS, "lists no splits (properties['splits'] is unset or empty)"),
        (ArtifactType.MODEL, "has no saved_model/saved_model.pb"),
    ],
)
def test_each_checked_type_names_what_its_empty_output_lacks(tmp_path, type_name, missing):
    def write_a_note(ctx: ExecutionContext) -> dict:
        Path(ctx.outputs["out"].path("x.txt")).write_text("x")
        return {}

    component = Component("custom_out", {}, {"out": type_name}, MakeConfig, write_a_note)
    with pytest.raises(ContractError) as err:
        run_component(component, root=tmp_path / "root", node_id="custom")
    assert str(err.value).startswith(f"node 'custom': output 'out' ({type_name}) {missing}; ")
    assert published(tmp_path, "custom", "out") == []


def test_types_without_a_contract_are_published_as_written(tmp_path):
    def nothing(ctx: ExecutionContext) -> dict:
        return {}

    component = Component(
        "custom_out", {}, {"a": ArtifactType.ANOMALIES, "b": "MyOwnType"}, MakeConfig, nothing
    )
    result = run_component(component, root=tmp_path / "root", node_id="custom")
    assert sorted(result.outputs) == ["a", "b"]


def test_in_a_pipeline_the_producer_fails_its_consumer_never_runs_and_a_rerun_retries(
    tmp_path, monkeypatch
):
    calls = tmp_path / "calls.txt"

    def pipeline(make: str) -> Pipeline:
        return Pipeline(
            "contracts",
            str(tmp_path / "root"),
            [
                Node(MAKE_EXAMPLES, MakeConfig(make=make), id="custom"),
                Node(
                    toy.SUM_NUMBERS,
                    toy.SumConfig(calls_log=str(calls)),
                    {"examples": OutputRef("custom", "examples")},
                ),
            ],
        )

    with pytest.raises(ContractError, match="node 'custom': output 'examples'"):
        run_pipeline(pipeline("nothing"))
    assert not calls.exists()  # the consumer never ran on the empty output
    assert published(tmp_path, "custom", "examples") == []

    asked: list[str] = []
    real = Examples.missing

    def counted(self: Examples) -> list[str]:
        asked.append(self.uri)
        return real(self)

    monkeypatch.setattr(Examples, "missing", counted)
    fixed = pipeline("complete")
    first = run_pipeline(fixed)
    assert {n.node_id: n.status for n in first.nodes} == {
        "custom": "COMPLETE",
        "sum_numbers": "COMPLETE",
    }
    assert len(asked) == 1  # the freshly written output is checked (SUM_NUMBERS' is a Model)
    again = run_pipeline(fixed)
    assert {n.status for n in again.nodes} == {"CACHED"}
    assert len(asked) == 1  # a cached run asks nothing


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        (
            "list",
            "node 'custom': expected its executor to return a mapping of str to JSON values "
            "(e.g. {'rows': 10}) or None, got a list (['not', 'a', 'dict'])",
        ),
        ("set_and_object", "values that are not JSON at 's' (set), 'o' (object)"),
        ("int_key", "keys that are not str: [1]"),
    ],
)
def test_an_executor_returning_something_else_than_a_json_mapping_fails_its_node(
    tmp_path, returns, expected
):
    with pytest.raises(ContractError) as err:
        run_make(tmp_path, make="complete", returns=returns)
    assert expected in str(err.value)
    assert str(err.value).startswith("node 'custom': ")
    assert published(tmp_path, "custom", "examples") == []


@pytest.mark.parametrize(
    ("returns", "summary"),
    [
        ("none", {}),
        ("numpy_and_nested", RETURNS["numpy_and_nested"]),
    ],
)
def test_none_numpy_scalars_and_nested_json_are_accepted(tmp_path, returns, summary):
    assert run_make(tmp_path, make="complete", returns=returns).summary == summary


def test_a_missing_split_names_who_asked_what_to_set_and_which_node_wrote_it(tmp_path):
    examples = input_artifact(ArtifactType.EXAMPLES, tmp_path, splits=["train", "eval"])
    examples.producer["node_id"] = "custom"
    with pytest.raises(DataError) as err:
        examples.check_split("test", "node 'evaluate'", "components.evaluate.eval_split")
    assert str(err.value) == (
        f"node 'evaluate': expected one of the Examples splits ['train', 'eval'] written by "
        f"node 'custom' at {tmp_path}, got 'test'; set components.evaluate.eval_split to one "
        "of them, or have node 'custom' write a 'test' split"
    )
