"""Component.prestart: a node whose work is nearly done (ExecutionContext.finishing) lets the
runner warm up the nodes waiting only for it; the warm-up reaches their execution as
ExecutionContext.prestarted, and nothing prestarted outlives the run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.prestart import Warmups
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy

EVENTS: list[str] = []


@dataclass
class Handle:
    node_id: str
    closed: bool = False

    def close(self) -> None:  # safe to call twice, as Component.prestart requires
        if not self.closed:
            self.closed = True
            EVENTS.append(f"close {self.node_id}")


HANDLES: list[Handle] = []


@dataclass(frozen=True)
class StepConfig:
    name: str = ""
    fail_prestart: bool = False
    fail: bool = False  # produce: after finishing(); consume: before touching its warm-up


def produce(ctx: ExecutionContext) -> dict:
    EVENTS.append(f"{ctx.node_id} working")
    ctx.finishing()
    EVENTS.append(f"{ctx.node_id} exporting")
    if ctx.config.fail:
        raise RuntimeError("export failed")
    with open(os.path.join(ctx.outputs["examples"].uri, "numbers.json"), "w") as f:
        json.dump([1, 2, 3], f)
    toy.complete_examples(ctx.outputs["examples"])
    return {}


def consume(ctx: ExecutionContext) -> dict:
    EVENTS.append(f"{ctx.node_id} runs with {'a warm-up' if ctx.prestarted else 'nothing'}")
    if ctx.config.fail:
        raise RuntimeError("failed before using its warm-up")
    if ctx.prestarted is not None:
        ctx.prestarted.close()
    with open(os.path.join(ctx.outputs["examples"].uri, "numbers.json"), "w") as f:
        json.dump([], f)
    toy.complete_examples(ctx.outputs["examples"])
    return {}


def warm_up(config: StepConfig) -> Handle:
    if config.fail_prestart:
        raise OSError("no room for a spare")
    EVENTS.append(f"prestart {config.name}")
    handle = Handle(config.name)
    HANDLES.append(handle)
    return handle


PRODUCE = Component(
    name="produce",
    inputs={},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=StepConfig,
    executor=produce,
)
CONSUME = Component(
    name="consume",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=StepConfig,
    executor=consume,
    prestart=warm_up,
)


def _pipeline(root: Path, fail_produce: bool = False, **consume_config: object) -> Pipeline:
    return Pipeline(
        "warm",
        str(root),
        [
            Node(PRODUCE, StepConfig("produce", fail=fail_produce), {}, id="produce"),
            Node(
                CONSUME,
                StepConfig("consume", **consume_config),  # type: ignore[arg-type]
                {"examples": OutputRef("produce", "examples")},
                id="consume",
            ),
        ],
    )


@pytest.fixture(autouse=True)
def _events():
    EVENTS.clear()
    HANDLES.clear()
    yield
    EVENTS.clear()
    HANDLES.clear()


def test_finishing_prestarts_the_downstream_node_which_receives_it(tmp_path):
    run_pipeline(_pipeline(tmp_path), max_parallel=2)
    assert EVENTS == [
        "produce working",
        "prestart consume",  # while produce still had its export to do
        "produce exporting",
        "consume runs with a warm-up",
        "close consume",
    ]
    # A fully cached rerun: nothing finishes, so nothing is warmed up.
    EVENTS.clear()
    run_pipeline(_pipeline(tmp_path))
    assert EVENTS == [] and len(HANDLES) == 1 and HANDLES[0].closed


@pytest.mark.parametrize("off", ["SEQLINE_PRESTART=0", "max_parallel=1"])
def test_warm_ups_are_off_by_environment_or_with_one_node_at_a_time(tmp_path, monkeypatch, off):
    # One at a time, the spare would idle (holding its memory) while evaluate ran first.
    if off.startswith("SEQLINE"):
        monkeypatch.setenv("SEQLINE_PRESTART", "0")
    run_pipeline(_pipeline(tmp_path), max_parallel=1 if off.startswith("max") else 2)
    assert EVENTS == ["produce working", "produce exporting", "consume runs with nothing"]


def test_an_upstream_failing_after_finishing_leaves_no_warm_up_behind(tmp_path):
    with pytest.raises(Exception, match="export failed"):
        run_pipeline(_pipeline(tmp_path, fail_produce=True), max_parallel=2)
    assert EVENTS == ["produce working", "prestart consume", "produce exporting", "close consume"]


def test_a_node_failing_before_it_uses_its_warm_up_still_has_it_closed(tmp_path):
    with pytest.raises(Exception, match="failed before using its warm-up"):
        run_pipeline(_pipeline(tmp_path, fail=True), max_parallel=2)
    assert EVENTS[-2:] == ["consume runs with a warm-up", "close consume"]
    assert len(HANDLES) == 1 and HANDLES[0].closed


def test_a_failing_prestart_leaves_the_node_to_start_cold(tmp_path, caplog):
    run_pipeline(_pipeline(tmp_path, fail_prestart=True), max_parallel=2)
    assert EVENTS == ["produce working", "produce exporting", "consume runs with nothing"]
    assert "prestart failed, it will start cold: no room for a spare" in caplog.text


def _nodes() -> tuple[Node, Node, Node]:
    first = Node(PRODUCE, StepConfig("first"), {}, id="first")
    second = Node(PRODUCE, StepConfig("second"), {}, id="second")
    both = Node(
        CONSUME,
        StepConfig("both"),
        {"a": OutputRef("first", "examples"), "b": OutputRef("second", "examples")},
        id="both",
    )
    return first, second, both


def test_a_node_is_prestarted_only_by_its_last_unfinished_upstream_and_once():
    first, second, both = _nodes()
    done: set[str] = set()
    warmups = Warmups([first, second, both], done=done.__contains__)
    warmups.finishing(first)  # second is still running: too early
    assert EVENTS == []
    done.add("first")
    warmups.finishing(second)
    warmups.finishing(second)
    assert EVENTS == ["prestart both"]
    handle = warmups.claim("both")
    assert isinstance(handle, Handle) and warmups.claim("both") is None


def test_unclaimed_warm_ups_are_closed_when_cached_or_at_the_end_of_the_run():
    first, second, both = _nodes()
    warmups = Warmups([first, second, both], done={"first"}.__contains__)
    warmups.finishing(second)
    warmups.discard("both")  # the node turned out to be a cache hit
    assert EVENTS == ["prestart both", "close both"]
    EVENTS.clear()
    warmups = Warmups([first, second, both], done={"first"}.__contains__)
    warmups.finishing(second)
    warmups.close_all()  # skipped or the run failed: nobody claimed it
    warmups.close_all()
    assert EVENTS == ["prestart both", "close both"]
    # Once the run has ended no warm-up starts (a node thread still finishing after Ctrl-C).
    EVENTS.clear()
    warmups.finishing(second)
    assert EVENTS == [] and warmups.claim("both") is None
    ended = Warmups([first, second, both], done={"first"}.__contains__)
    ended.close_all()  # before any node said it was finishing
    ended.finishing(second)
    assert EVENTS == [] and ended.claim("both") is None
