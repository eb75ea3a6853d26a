"""The parallel local runner: independent nodes at once, at most N, with the sequential
runner's cache, metadata and failure semantics (pipeline/scheduling.py)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.cli import _NodeFormatter, main
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ComponentFailed, ConfigError
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.report import PrintProgress
from seqline.pipeline.runner import Progress, run_pipeline
from seqline.pipeline.scheduling import default_max_parallel, schedule
from tests.pipeline import toy_components as toy

REPO = Path(__file__).resolve().parents[2]

# Rendezvous points shared by the nodes of one test, by name (configs must stay plain data).
BARRIERS: dict[str, threading.Barrier] = {}
# Concurrency gauges by name: [running now, most running at once].
GAUGES: dict[str, list[int]] = {}
_GAUGE_LOCK = threading.Lock()
# A barrier wait is bounded so a runner that never overlaps fails the test instead of hanging.
MEET_TIMEOUT = 60


@dataclass(frozen=True)
class MeetConfig:
    barrier: str = ""  # wait here until the barrier's other parties arrive
    gauge: str = ""  # count how many nodes sharing this gauge run at once
    fail: bool = False
    calls_log: str = ""


def meet(ctx: ExecutionContext) -> dict:
    cfg = ctx.config
    if cfg.calls_log:
        with open(cfg.calls_log, "a") as f:
            f.write(ctx.node_id + "\n")
    if cfg.gauge:
        with _GAUGE_LOCK:
            gauge = GAUGES[cfg.gauge]
            gauge[0] += 1
            gauge[1] = max(gauge[1], gauge[0])
    try:
        if cfg.barrier:
            BARRIERS[cfg.barrier].wait(timeout=MEET_TIMEOUT)
        if cfg.fail:
            raise RuntimeError(f"{ctx.node_id} fails on purpose")
    finally:
        if cfg.gauge:
            with _GAUGE_LOCK:
                GAUGES[cfg.gauge][0] -= 1
    numbers = []
    for name in sorted(n for n, a in ctx.inputs.items() if a is not None):
        with open(os.path.join(ctx.inputs[name].uri, "numbers.json")) as f:
            numbers += json.load(f)
    out = ctx.outputs["examples"]
    with open(os.path.join(out.uri, "numbers.json"), "w") as f:
        json.dump(numbers, f)
    toy.complete_examples(out)
    ctx.progress(f"passed on {len(numbers)} numbers")
    return {"count": len(numbers)}


MEET = Component(
    name="meet",
    inputs={"examples": ArtifactType.EXAMPLES, "other": ArtifactType.EXAMPLES},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=MeetConfig,
    executor=meet,
    optional=frozenset({"other"}),
)


def _meet(node_id: str, *upstreams: str, **config: object) -> Node:
    inputs = {"examples": OutputRef(upstreams[0], "examples")}
    if len(upstreams) > 1:
        inputs["other"] = OutputRef(upstreams[1], "examples")
    return Node(MEET, MeetConfig(**config), inputs, id=node_id)  # type: ignore[arg-type]


def diamond(root: Path, log: Path, barrier: str = "", fail_left: bool = False) -> Pipeline:
    """write_numbers -> left, right -> join; and write_numbers -> after_left <- left."""
    return Pipeline(
        "diamond",
        str(root),
        [
            Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig(count=3, calls_log=str(log))),
            _meet("left", "write_numbers", barrier=barrier, fail=fail_left, calls_log=str(log)),
            _meet("right", "write_numbers", barrier=barrier, calls_log=str(log)),
            _meet("after_left", "left", calls_log=str(log)),
            _meet("join", "left", "right", calls_log=str(log)),
        ],
    )


@pytest.fixture
def barrier(request: pytest.FixtureRequest) -> str:
    name = request.node.name
    BARRIERS[name] = threading.Barrier(2)
    yield name
    BARRIERS.pop(name).abort()


def test_independent_nodes_run_at_the_same_time(tmp_path, barrier):
    log = tmp_path / "calls.txt"
    # left and right each wait at a two-party barrier: they finish only if they overlap.
    result = run_pipeline(diamond(tmp_path / "root", log, barrier), max_parallel=2)
    assert result.status == "SUCCEEDED"
    assert [n.status for n in result.nodes] == ["COMPLETE"] * 5
    assert result.node("join").summary == {"count": 6}
    assert not BARRIERS[barrier].broken
    # A node starts only after its upstreams: join after both, after_left after left.
    order = log.read_text().split()
    assert order[0] == "write_numbers"
    assert order.index("join") > max(order.index("left"), order.index("right"))
    assert order.index("after_left") > order.index("left")


def test_at_most_max_parallel_nodes_run_at_once(tmp_path, request):
    name = request.node.name
    BARRIERS[name], GAUGES[name] = threading.Barrier(2), [0, 0]
    try:
        nodes = [Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig(count=2))] + [
            _meet(f"m{i}", "write_numbers", barrier=name, gauge=name) for i in range(4)
        ]
        result = run_pipeline(Pipeline("limit", str(tmp_path / "root"), nodes), max_parallel=2)
    finally:
        BARRIERS.pop(name).abort()
    assert [n.status for n in result.nodes] == ["COMPLETE"] * 5
    # Pairs met at the barrier (so two ran together), and never three at once.
    assert GAUGES.pop(name) == [0, 2]


def test_one_at_a_time_keeps_the_pipeline_order_in_the_calling_thread(tmp_path):
    order: list[tuple[str, str]] = []

    def run_one(node: Node) -> None:
        order.append((node.node_id, threading.current_thread().name))

    pipeline = diamond(tmp_path, tmp_path / "log")
    assert schedule(pipeline.nodes, run_one, 1) == {}
    me = threading.current_thread().name
    assert order == [(n.node_id, me) for n in pipeline.nodes]


@pytest.mark.parametrize("max_parallel", [1, 2])
def test_a_failure_skips_its_downstream_nodes_and_independent_ones_finish(tmp_path, max_parallel):
    root, log = tmp_path / "root", tmp_path / "calls.txt"
    messages: list[tuple[str, str]] = []

    class Record(Progress):
        def node_message(self, node: Node, message: str) -> None:
            messages.append((node.node_id, message))

    pipeline = diamond(root, log, fail_left=True)
    with pytest.raises(ComponentFailed, match="left fails on purpose"):
        run_pipeline(pipeline, max_parallel=max_parallel, progress=Record())
    # right does not depend on left: it ran; after_left and join wait for left: never started.
    assert sorted(log.read_text().split()) == ["left", "right", "write_numbers"]
    assert ("join", "skipped: upstream node 'left' did not succeed") in messages
    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    run = store.runs()[0]
    assert run["status"] == "FAILED" and "left fails on purpose" in run["error"]
    statuses = {e.node_id: e.status for e in store.executions(run["run_id"])}
    assert statuses == {"write_numbers": "COMPLETE", "left": "FAILED", "right": "COMPLETE"}
    assert (root / "_failed" / run["run_id"] / "left" / "error.txt").exists()

    # Fixed, the next run reuses what finished and runs the rest.
    log.unlink()
    fixed = run_pipeline(diamond(root, log), max_parallel=max_parallel)
    assert {n.node_id: n.status for n in fixed.nodes} == {
        "write_numbers": "CACHED",
        "left": "COMPLETE",
        "right": "CACHED",
        "after_left": "COMPLETE",
        "join": "COMPLETE",
    }


def test_a_parallel_rerun_is_cached_and_metadata_links_every_input(tmp_path, barrier):
    root, log = tmp_path / "root", tmp_path / "calls.txt"
    first = run_pipeline(diamond(root, log, barrier), max_parallel=2)
    BARRIERS[barrier].reset()
    second = run_pipeline(diamond(root, log, barrier), max_parallel=3)
    assert [n.status for n in second.nodes] == ["CACHED"] * 5
    assert len(log.read_text().split()) == 5  # nothing executed twice
    assert [n.fingerprint for n in second.nodes] == [n.fingerprint for n in first.nodes]

    store = MetadataStore(first.metadata_url)
    for run in (first, second):
        executions = {e.node_id: e for e in store.executions(run.run_id)}
        assert sorted(executions) == sorted(n.node_id for n in first.nodes)
        for node in diamond(root, log).nodes:
            inputs = dict(store.artifacts_of(executions[node.node_id].id, "input"))
            outputs = dict(store.artifacts_of(executions[node.node_id].id, "output"))
            # Each input event points at the artifact its upstream published in this run.
            for name, ref in node.inputs.items():
                assert inputs[name].uri == first.node(ref.node_id).outputs[ref.output].uri
            assert outputs["examples"].uri == first.node(node.node_id).outputs["examples"].uri
    join = store.artifact_by_uri(first.node("join").outputs["examples"].uri)
    assert join is not None
    lineage = {(e.node_id, name) for _, e, name, _ in store.lineage(join.id)}
    assert lineage == {
        ("join", "examples"),
        ("join", "other"),
        ("left", "examples"),
        ("right", "examples"),
    }


def test_max_parallel_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ConfigError, match="integer >= 1"):
        run_pipeline(diamond(tmp_path, tmp_path / "log"), max_parallel=0)
    with pytest.raises(ConfigError, match=r"max_parallel: expected .* got 0"):
        load_pipeline(REPO / "examples" / "demo" / "pipeline.yaml", {"max_parallel": 0})
    pipeline = load_pipeline(REPO / "examples" / "demo" / "pipeline.yaml", {"max_parallel": 3})
    assert pipeline.max_parallel == 3


def test_cli_rejects_max_parallel_with_node(tmp_path, capsys):
    config = REPO / "examples" / "demo" / "pipeline.yaml"
    args = ["run", str(config), "--root", str(tmp_path), "--node", "train", "--max-parallel", "2"]
    assert main(args) == 2
    assert "--max-parallel applies to a whole run" in capsys.readouterr().err


def test_log_lines_of_a_node_thread_name_the_node():
    formatter = _NodeFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("seqline.x", logging.INFO, __file__, 1, "hello", None, None)
    record.threadName = "seqline:evaluate"
    assert formatter.format(record) == "[evaluate] INFO seqline.x: hello"
    record.threadName = "MainThread"
    assert formatter.format(record) == "INFO seqline.x: hello"


def test_progress_lines_stay_whole_and_name_their_node(tmp_path, barrier):
    stream = io.StringIO()
    run_pipeline(
        diamond(tmp_path / "root", tmp_path / "log", barrier),
        max_parallel=2,
        progress=PrintProgress(stream),
    )
    lines = stream.getvalue().splitlines()
    ids = [n.node_id for n in diamond(tmp_path, tmp_path / "log").nodes]
    pattern = re.compile(
        r"^(\[(?P<i>\d)/5\] (?P<started>\w+) \(running\)"
        r"|\[(?P<j>\d)/5\] (?P<done>\w+) done in \d+\.\ds"
        r"|      (?P<said>\w+): (wrote|passed on) \d+ numbers)$"
    )
    matches = [pattern.match(line) for line in lines]
    assert all(matches), lines
    started = [m["started"] for m in matches if m and m["started"]]
    done = [m["done"] for m in matches if m and m["done"]]
    assert sorted(started) == sorted(done) == sorted(ids)
    # [i/5] is the node's place in the pipeline, whenever it starts.
    for m in matches:
        if m and m["started"]:
            assert ids[int(m["i"]) - 1] == m["started"]


def test_the_pipelines_setting_wins_over_the_environment_default(tmp_path, barrier, monkeypatch):
    monkeypatch.setenv("SEQLINE_MAX_PARALLEL", "1")
    assert default_max_parallel() == 1
    # With one node at a time left and right could never meet at their barrier.
    pipeline = dataclasses.replace(
        diamond(tmp_path / "root", tmp_path / "log", barrier), max_parallel=2
    )
    assert run_pipeline(pipeline).status == "SUCCEEDED"
    monkeypatch.setenv("SEQLINE_MAX_PARALLEL", "two")
    with pytest.raises(ConfigError, match=r"SEQLINE_MAX_PARALLEL: expected a whole number"):
        default_max_parallel()
    monkeypatch.setenv("SEQLINE_MAX_PARALLEL", "0")
    with pytest.raises(ConfigError, match=r"SEQLINE_MAX_PARALLEL: expected .* got 0"):
        default_max_parallel()
