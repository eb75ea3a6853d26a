from __future__ import annotations

import dataclasses

import pytest

from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import WiringError
from tests.pipeline.toy_components import SUM_NUMBERS, WRITE_NUMBERS, SumConfig, WriteNumbersConfig


def _nodes(**sum_kwargs):
    return [
        Node(
            SUM_NUMBERS,
            SumConfig(),
            {"examples": OutputRef("write_numbers", "examples")},
            **sum_kwargs,
        ),
        Node(WRITE_NUMBERS, WriteNumbersConfig()),
    ]


def test_nodes_are_sorted_so_upstreams_come_first():
    pipeline = Pipeline("p", "/tmp/x", _nodes())
    assert [n.node_id for n in pipeline.nodes] == ["write_numbers", "sum_numbers"]


def test_unknown_upstream_node_is_named():
    nodes = [Node(SUM_NUMBERS, SumConfig(), {"examples": OutputRef("ingest", "examples")})]
    with pytest.raises(WiringError, match="unknown node 'ingest'"):
        Pipeline("p", "/tmp/x", nodes)


def test_wrong_artifact_type_is_rejected():
    other = dataclasses.replace(WRITE_NUMBERS, outputs={"examples": ArtifactType.MODEL})
    nodes = [
        Node(other, WriteNumbersConfig()),
        Node(SUM_NUMBERS, SumConfig(), {"examples": OutputRef("write_numbers", "examples")}),
    ]
    with pytest.raises(
        WiringError, match="expects a Examples, but 'write_numbers.examples' is a Model"
    ):
        Pipeline("p", "/tmp/x", nodes)


def test_missing_input_and_duplicate_ids_and_wrong_config_type():
    with pytest.raises(WiringError, match="expects inputs"):
        Pipeline("p", "/tmp/x", [Node(SUM_NUMBERS, SumConfig())])
    with pytest.raises(WiringError, match="two nodes have the id"):
        Pipeline("p", "/tmp/x", [Node(WRITE_NUMBERS, WriteNumbersConfig())] * 2)
    with pytest.raises(WiringError, match="config must be a WriteNumbersConfig"):
        Pipeline("p", "/tmp/x", [Node(WRITE_NUMBERS, SumConfig())])


def test_cycle_is_detected():
    looping = dataclasses.replace(SUM_NUMBERS, outputs={"model": ArtifactType.EXAMPLES})
    nodes = [
        Node(looping, SumConfig(), {"examples": OutputRef("b", "model")}, id="a"),
        Node(looping, SumConfig(), {"examples": OutputRef("a", "model")}, id="b"),
    ]
    with pytest.raises(WiringError, match="cycle among nodes"):
        Pipeline("p", "/tmp/x", nodes)


def test_a_cycle_error_names_only_the_nodes_on_the_cycle():
    looping = dataclasses.replace(SUM_NUMBERS, outputs={"model": ArtifactType.EXAMPLES})
    nodes = [
        Node(WRITE_NUMBERS, WriteNumbersConfig()),
        # c and d only wait for the cycle; they are not on it.
        Node(looping, SumConfig(), {"examples": OutputRef("a", "model")}, id="c"),
        Node(looping, SumConfig(), {"examples": OutputRef("c", "model")}, id="d"),
        Node(looping, SumConfig(), {"examples": OutputRef("b", "model")}, id="a"),
        Node(looping, SumConfig(), {"examples": OutputRef("a", "model")}, id="b"),
    ]
    with pytest.raises(WiringError) as caught:
        Pipeline("p", "/tmp/x", nodes)
    message = str(caught.value)
    assert message.startswith("cycle among nodes ['a', 'b']: ")
    assert "'a' input 'examples' reads b.model" in message
    assert "'b' input 'examples' reads a.model" in message
    assert "'c'" not in message and "'d'" not in message and "write_numbers" not in message


@pytest.mark.parametrize(
    "node_id", ["../evil", "a/b", ".hidden", "-flag", "with space", "x" * 65, "tab\there"]
)
def test_a_node_id_that_is_not_one_plain_short_name_is_refused(node_id):
    # A node id names folders under the root: `../evil` put its lock file beside `_locks/`.
    with pytest.raises(WiringError, match="node id: expected one plain name of at most 64"):
        Pipeline("p", "/tmp/x", [Node(WRITE_NUMBERS, WriteNumbersConfig(), id=node_id)])


@pytest.mark.parametrize("node_id", ["pii_scrub", "pii-scrub.v2", "2nd_pass", "x" * 64])
def test_plain_node_ids_are_accepted(node_id):
    pipeline = Pipeline("p", "/tmp/x", [Node(WRITE_NUMBERS, WriteNumbersConfig(), id=node_id)])
    assert [n.node_id for n in pipeline.nodes] == [node_id]
