from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqline.pipeline.artifact import read_artifact
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import ComponentFailed, ConfigError
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.runner import compute_fingerprints, run_pipeline
from tests.pipeline import toy_components as toy

REPO = Path(__file__).resolve().parents[2]


def make_pipeline(root, calls_log="", count=5, scale=1, fail=False, source=""):
    write = toy.WRITE_NUMBERS
    total = toy.SUM_NUMBERS
    return Pipeline(
        "toy",
        str(root),
        [
            Node(write, toy.WriteNumbersConfig(count=count, calls_log=calls_log, source=source)),
            Node(
                total,
                toy.SumConfig(scale=scale, calls_log=calls_log, fail=fail),
                {"examples": OutputRef("write_numbers", "examples")},
            ),
        ],
    )


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_artifacts_follow_the_uri_rule_and_describe_themselves(tmp_path):
    result = run_pipeline(make_pipeline(tmp_path / "root"))
    fp = result.node("sum_numbers").fingerprint
    uri = str(tmp_path / "root" / "sum_numbers" / "model" / fp)
    artifact = read_artifact(uri)
    assert artifact is not None
    assert artifact.type_name == "Model"
    assert artifact.properties == {"total": 10}
    assert artifact.producer["node_id"] == "sum_numbers"
    assert json.loads((Path(uri) / "total.json").read_text()) == 10
    assert not list((tmp_path / "root" / "sum_numbers" / "model").glob(".tmp-*"))


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_cached_output_damaged_after_publishing_runs_its_node_again(tmp_path, caplog, damage):
    """A file deleted or cut in a published artifact was trusted by the cache; the failure
    surfaced downstream, advising a re-run that the cache then skipped."""
    log = tmp_path / "calls.txt"
    first = run_pipeline(make_pipeline(tmp_path / "root", str(log)))
    model = Path(first.node("sum_numbers").outputs["model"].uri)
    total = model / "total.json"
    if damage == "delete":
        total.unlink()
    else:
        total.write_text("1")
    with caplog.at_level("WARNING"):
        second = run_pipeline(make_pipeline(tmp_path / "root", str(log)))
    assert [n.status for n in second.nodes] == ["CACHED", "COMPLETE"]
    assert calls(log) == ["write_numbers", "sum_numbers", "sum_numbers"]
    assert json.loads(total.read_text()) == 10  # rewritten in place, same fingerprint
    expected = "missing: total.json" if damage == "delete" else "size changed: total.json"
    assert expected in caplog.text and "running the node again" in caplog.text
    third = run_pipeline(make_pipeline(tmp_path / "root", str(log)))
    assert [n.status for n in third.nodes] == ["CACHED", "CACHED"]


def test_a_cached_node_whose_outside_effects_are_gone_runs_again(tmp_path, caplog):
    """effects_gone (push: the served version) is asked before a cache hit is trusted."""
    import dataclasses

    log, effect = tmp_path / "calls.txt", tmp_path / "served"
    effect.write_text("v1")
    pipeline = make_pipeline(tmp_path / "root", str(log))
    watched = dataclasses.replace(
        toy.SUM_NUMBERS,
        effects_gone=lambda outputs: [] if effect.exists() else [f"{effect} deleted"],
    )
    nodes = [pipeline.nodes[0], dataclasses.replace(pipeline.nodes[1], component=watched)]
    pipeline = dataclasses.replace(pipeline, nodes=nodes)
    run_pipeline(pipeline)
    assert [n.status for n in run_pipeline(pipeline).nodes] == ["CACHED", "CACHED"]
    effect.unlink()
    with caplog.at_level("WARNING"):
        again = run_pipeline(pipeline)
    assert [n.status for n in again.nodes] == ["CACHED", "COMPLETE"]
    assert f"{effect} deleted" in caplog.text and "running the node again" in caplog.text
    assert calls(log) == ["write_numbers", "sum_numbers", "sum_numbers"]


def test_second_run_is_fully_cached_and_config_change_reruns_downstream_only(tmp_path):
    log = tmp_path / "calls.txt"
    first = run_pipeline(make_pipeline(tmp_path / "root", str(log)))
    assert [n.status for n in first.nodes] == ["COMPLETE", "COMPLETE"]
    second = run_pipeline(make_pipeline(tmp_path / "root", str(log)))
    assert [n.status for n in second.nodes] == ["CACHED", "CACHED"]
    assert calls(log) == ["write_numbers", "sum_numbers"]
    third = run_pipeline(make_pipeline(tmp_path / "root", str(log), scale=3))
    assert [n.status for n in third.nodes] == ["CACHED", "COMPLETE"]
    assert third.node("sum_numbers").outputs["model"].properties["total"] == 30
    upstream_changed = run_pipeline(make_pipeline(tmp_path / "root", str(log), count=6, scale=3))
    assert [n.status for n in upstream_changed.nodes] == ["COMPLETE", "COMPLETE"]


def test_fingerprint_covers_outside_data(tmp_path):
    source = tmp_path / "data.txt"
    source.write_text("a")
    base = compute_fingerprints(make_pipeline(tmp_path, source=str(source)))
    source.write_text("ab")
    changed_data = compute_fingerprints(make_pipeline(tmp_path, source=str(source)))
    assert changed_data["write_numbers"] != base["write_numbers"]
    assert changed_data["sum_numbers"] != base["sum_numbers"]  # inputs' fingerprints propagate


def test_pre_run_check_fails_before_anything_executes(tmp_path):
    log = tmp_path / "calls.txt"
    with pytest.raises(ConfigError, match="does not exist"):
        run_pipeline(make_pipeline(tmp_path / "root", str(log), source=str(tmp_path / "nope")))
    assert calls(log) == []


def test_failed_component_is_recorded_and_leaves_no_artifact(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(ComponentFailed, match="deliberate failure") as err:
        run_pipeline(make_pipeline(root, fail=True))
    assert not list((root / "sum_numbers" / "model").iterdir())
    store = MetadataStore(default_metadata_url(str(root)))
    run = store.runs()[0]
    # What the executor wrote before failing is kept for the user, and the error says where.
    kept = root / "_failed" / run["run_id"] / "sum_numbers"
    assert (kept / "model" / "partial.txt").read_text() == "half"
    assert str(kept) in str(err.value)
    assert run["status"] == "FAILED"
    executions = store.executions(run["run_id"])
    assert [(e.node_id, e.status) for e in executions] == [
        ("write_numbers", "COMPLETE"),
        ("sum_numbers", "FAILED"),
    ]
    assert "deliberate failure" in executions[1].error


def test_metadata_records_lineage(tmp_path):
    root = tmp_path / "root"
    result = run_pipeline(make_pipeline(root))
    run_pipeline(make_pipeline(root))  # cached run links to the same artifacts
    store = MetadataStore(result.metadata_url)
    model_uri = result.node("sum_numbers").outputs["model"].uri
    model = store.artifact_by_uri(model_uri)
    assert model is not None and model.properties == {"total": 10}
    lineage = list(store.lineage(model.id))
    assert [(depth, e.node_id, name, a.type_name) for depth, e, name, a in lineage] == [
        (0, "sum_numbers", "examples", "Examples")
    ]
    assert lineage[0][1].run_id == result.run_id  # the producer is the first, real execution
    runs = store.runs()
    assert [r["executions"] for r in runs] == [{"CACHED": 2}, {"COMPLETE": 2}]


CRASH_SCRIPT = """
import sys
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy
root, log, started, release = sys.argv[1:5]
run_pipeline(Pipeline("toy", root, [
    Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig(calls_log=log)),
    Node(toy.SUM_NUMBERS, toy.SumConfig(calls_log=log, started_file=started,
         release_file=release), {"examples": OutputRef("write_numbers", "examples")}),
]))
"""


def test_kill_9_mid_run_then_resume_reuses_finished_and_reruns_killed(tmp_path):
    root, log = tmp_path / "root", tmp_path / "calls.txt"
    started, release = tmp_path / "started", tmp_path / "release"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(root), str(log), str(started), str(release)],
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the crash script never reached the blocking component"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    # The killed component left only a temporary directory, never a published artifact.
    model_dir = root / "sum_numbers" / "model"
    leftovers = list(model_dir.iterdir())
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)
    assert all((p / "partial.txt").exists() for p in leftovers)

    # Rerun with the same configs as the killed run so fingerprints match.
    release.write_text("go")
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(root), str(log), str(started), str(release)],
        cwd=REPO,
        check=True,
    )
    assert result.returncode == 0
    assert calls(log) == ["write_numbers", "sum_numbers", "sum_numbers"]
    published = [p for p in model_dir.iterdir()]
    assert len(published) == 1 and not published[0].name.startswith(".tmp-")
    assert json.loads((published[0] / "total.json").read_text()) == 10
    store = MetadataStore(default_metadata_url(str(root)))
    statuses = [r["status"] for r in store.runs()]
    assert statuses == ["SUCCEEDED", "CRASHED"]
