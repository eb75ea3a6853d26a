"""Node-level runs: one node at a time under one run id, as an orchestrator runs them."""

from __future__ import annotations

import io
import time

import pytest

from seqline.pipeline import node_run
from seqline.pipeline.cli import main
from seqline.pipeline.errors import ComponentFailed, ConfigError
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.node_run import UpstreamMissing, run_node
from seqline.pipeline.report import PrintProgress
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import calls, make_pipeline


def _store(root):
    return MetadataStore(default_metadata_url(str(root)))


def test_nodes_run_one_at_a_time_share_the_run_id_and_match_a_local_run(tmp_path):
    root, log = tmp_path / "root", tmp_path / "calls.log"
    pipeline = make_pipeline(root, calls_log=str(log))
    first = run_node(pipeline, "write_numbers", "nightly-1")
    second = run_node(pipeline, "sum_numbers", "nightly-1")
    assert (first.status, second.status) == ("COMPLETE", "COMPLETE")
    assert second.outputs["model"].properties == {"total": 10}
    assert calls(log) == ["write_numbers", "sum_numbers"]

    store = _store(root)
    executions = store.executions("nightly-1")
    assert [(e.node_id, e.status) for e in executions] == [
        ("write_numbers", "COMPLETE"),
        ("sum_numbers", "COMPLETE"),
    ]
    assert store.run("nightly-1")["status"] == "SUCCEEDED"
    # Lineage links the two executions: sum_numbers read write_numbers' output.
    ((name, record),) = store.artifacts_of(executions[1].id, "input")
    assert (name, record.node_id) == ("examples", "write_numbers")

    # The local runner computes the same fingerprints, so it finds both cached.
    local = run_pipeline(pipeline)
    assert [n.status for n in local.nodes] == ["CACHED", "CACHED"]
    assert local.node("sum_numbers").fingerprint == second.fingerprint
    # And a node run of a new run id reads the cache for upstreams it did not run.
    again = run_node(pipeline, "sum_numbers", "nightly-2")
    assert again.status == "CACHED" and calls(log) == ["write_numbers", "sum_numbers"]


def test_missing_upstream_names_the_node_output_and_the_command(tmp_path):
    pipeline = make_pipeline(tmp_path / "root")
    with pytest.raises(UpstreamMissing) as caught:
        run_node(pipeline, "sum_numbers", "r1", config_hint="toy.yaml")
    message = str(caught.value)
    assert "write_numbers.examples" in message
    assert "examples <- write_numbers.examples" in message
    assert "seqline run toy.yaml --node write_numbers --run-id r1" in message
    # Nothing ran, and no run was recorded.
    assert _store(tmp_path / "root").runs() == []


def test_a_changed_upstream_config_is_not_silently_replaced_by_an_old_output(tmp_path):
    root = tmp_path / "root"
    run_node(make_pipeline(root, count=5), "write_numbers", "r1")
    # A different run whose upstream config changed: the old output is not its input.
    with pytest.raises(UpstreamMissing, match="write_numbers.examples"):
        run_node(make_pipeline(root, count=7), "sum_numbers", "r2")
    # Within run r1, the upstream r1 recorded is used.
    result = run_node(make_pipeline(root, count=5), "sum_numbers", "r1")
    assert result.outputs["model"].properties == {"total": 10}


def test_a_failing_node_is_recorded_and_fails_its_run(tmp_path):
    root = tmp_path / "root"
    run_node(make_pipeline(root), "write_numbers", "r1")
    with pytest.raises(ComponentFailed, match="deliberate failure"):
        run_node(make_pipeline(root, fail=True), "sum_numbers", "r1")
    store = _store(root)
    assert [e.status for e in store.executions("r1")] == ["COMPLETE", "FAILED"]
    assert store.run("r1")["status"] == "FAILED"


def test_a_retry_that_succeeds_under_the_same_run_id_clears_the_failure(tmp_path):
    """What an Airflow or KFP retry does: the node runs again under the run id of its failed
    attempt. The run stayed FAILED forever, with the end time of the failure."""
    root = tmp_path / "root"
    run_node(make_pipeline(root), "write_numbers", "r1")
    with pytest.raises(ComponentFailed):
        run_node(make_pipeline(root, fail=True), "sum_numbers", "r1")
    store = _store(root)
    assert store.run("r1")["status"] == "FAILED"
    assert store.run("r1")["error"].startswith("sum_numbers: ComponentFailed: ")
    retried_at = time.time()
    assert run_node(make_pipeline(root), "sum_numbers", "r1").status == "COMPLETE"
    run = store.run("r1")
    assert (run["status"], run["error"]) == ("SUCCEEDED", None)
    assert run["finished_at"] >= retried_at  # the end time follows the last node
    statuses = [(e.node_id, e.status) for e in store.executions("r1")]
    assert statuses == [
        ("write_numbers", "COMPLETE"),
        ("sum_numbers", "FAILED"),
        ("sum_numbers", "COMPLETE"),
    ]


def test_a_run_stays_failed_while_a_node_newest_execution_failed(tmp_path, monkeypatch):
    root = tmp_path / "root"
    run_node(make_pipeline(root), "write_numbers", "r1")
    with pytest.raises(ComponentFailed):
        run_node(make_pipeline(root, fail=True), "sum_numbers", "r1")
    # Another node finishing (here write_numbers again, cached) does not clear it.
    before = time.time()
    assert run_node(make_pipeline(root), "write_numbers", "r1").status == "CACHED"
    run = _store(root).run("r1")
    assert run["status"] == "FAILED" and run["finished_at"] >= before
    assert run["error"].startswith("sum_numbers: ComponentFailed: ")

    # A failure before any execution is recorded (a resolver, the lock, an interrupt) is
    # recorded as a FAILED execution, so a later node cannot hide it either.
    def broken(*args, **kwargs):
        raise RuntimeError("lock service unreachable")

    monkeypatch.setattr(node_run, "_run_node", broken)
    with pytest.raises(RuntimeError, match="lock service unreachable"):
        run_node(make_pipeline(root), "write_numbers", "r2")
    monkeypatch.undo()
    store = _store(root)
    (failed,) = store.executions("r2")
    assert (failed.node_id, failed.status) == ("write_numbers", "FAILED")
    assert failed.error == "write_numbers: RuntimeError: lock service unreachable"
    assert store.run("r2")["status"] == "FAILED"
    assert run_node(make_pipeline(root), "write_numbers", "r2").status == "CACHED"
    assert store.run("r2")["status"] == "SUCCEEDED"


def test_a_node_run_counts_itself_one_of_one_when_it_fails(tmp_path):
    root = tmp_path / "root"
    run_node(make_pipeline(root), "write_numbers", "r1")
    out = io.StringIO()
    with pytest.raises(ComponentFailed):
        run_node(make_pipeline(root, fail=True), "sum_numbers", "r1", progress=PrintProgress(out))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/1] sum_numbers (running)"
    assert lines[-1].startswith("[1/1] sum_numbers FAILED after ")  # it said [1/2]


def test_unknown_node_and_bad_run_id_are_config_errors(tmp_path):
    pipeline = make_pipeline(tmp_path / "root")
    with pytest.raises(ConfigError, match=r"no such node .* \['write_numbers', 'sum_numbers'\]"):
        run_node(pipeline, "sum", "r1")
    with pytest.raises(ConfigError, match="--run-id"):
        run_node(pipeline, "write_numbers", "a/b")


TOY_YAML = """
name: toy
kind: text
root: out/${span}
components:
  ingest_text:
    source: data/${span}.csv
    labels: [neg, pos]
    max_reject_ratio: ${ratio}
  evaluate: {beat_baseline: [accuracy]}
  push: {serving_root: serving}
"""


def test_cli_parameters_are_substituted_and_checked_before_anything_runs(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text(TOY_YAML)
    assert main(["run", str(config), "--node", "ingest_text", "--param", "span=2026-01-01"]) == 2
    err = capsys.readouterr().err
    assert "missing run parameter(s) ['ratio']" in err
    assert "${ratio} in components.ingest_text.max_reject_ratio" in err
    assert "--param ratio=VALUE" in err
    args = ["run", str(config), "--param", "span=2026-01-01", "--param", "ratio=0.1"]
    assert main([*args, "--param", "epochs=2"]) == 2
    assert "unknown run parameter(s) ['epochs']" in capsys.readouterr().err
    assert main([*args, "--param", "nokey"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # With both given, the values reach the config (the source path names the span).
    assert main([*args, "--node", "ingest_text", "--run-id", "r1"]) == 2
    assert "data/2026-01-01.csv" in capsys.readouterr().err
    # A missing upstream's hint repeats the parameters.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "2026-01-01.csv").write_text("text,label\ngood film,pos\n")
    assert main([*args, "--node", "transform", "--run-id", "r1"]) == 2
    err = capsys.readouterr().err
    assert "--param span=2026-01-01 --param ratio=0.1 --node ingest_text --run-id r1" in err


def test_runs_reads_a_parameterised_config_without_its_parameters(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text(
        "name: toy\nkind: text\nroot: out\n"
        "components:\n  ingest_text:\n    source: data/${span}.csv\n    labels: [neg, pos]\n"
        "  evaluate: {beat_baseline: [accuracy]}\n  push: {serving_root: serving}\n"
    )
    run_node(make_pipeline(tmp_path / "out"), "write_numbers", "r1")
    assert main(["runs", "--config", str(config)]) == 0
    assert "r1" in capsys.readouterr().out
