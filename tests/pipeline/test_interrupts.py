"""Ctrl-C and SIGTERM during `seqline run`: the run ends through one clean-up path, whatever
--max-parallel is. Nothing stays RUNNING, scratch folders are removed, a node left running in
another thread records nothing more, and the exit status says which signal it was."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqline.pipeline.metadata import MetadataStore, default_metadata_url

REPO = Path(__file__).resolve().parents[2]

# write_numbers -> sum_numbers, which blocks until `release` exists; run through the CLI's
# console script (seqline.pipeline.cli.entry, fast exit included).
CLI_RUN = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
import seqline.pipeline.config_file as config_file
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from tests.pipeline import toy_components as toy

root, started, release, max_parallel = sys.argv[1:5]
pipeline = Pipeline("toy", root, [
    Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig()),
    Node(toy.SUM_NUMBERS, toy.SumConfig(started_file=started, release_file=release),
         {"examples": OutputRef("write_numbers", "examples")}),
])
config_file.load_pipeline = lambda *args, **kwargs: pipeline
sys.argv = ["seqline", "run", "pipeline.yaml", "--max-parallel", max_parallel]
from seqline.pipeline.cli import entry
entry()
"""

# The Python API: the run is interrupted while sum_numbers runs in its thread, then the node
# is released and finishes; what did it record and print?
API_RUN = """
import json, os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.runner import Progress, run_pipeline
from tests.pipeline import toy_components as toy

class Say(Progress):
    def node_finished(self, index, total, result):
        print("finished", result.node_id, result.status, flush=True)

root, started, release = sys.argv[1:4]
pipeline = Pipeline("toy", root, [
    Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig()),
    Node(toy.SUM_NUMBERS, toy.SumConfig(started_file=started, release_file=release),
         {"examples": OutputRef("write_numbers", "examples")}),
])
try:
    run_pipeline(pipeline, progress=Say(), max_parallel=2)
except KeyboardInterrupt:
    print("interrupted", flush=True)
open(release, "w").close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline and any(
    t.name == "seqline:sum_numbers" for t in threading.enumerate()
):
    time.sleep(0.05)
print("thread ended", flush=True)
"""


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_when_started(proc: subprocess.Popen, started: Path, signum: int) -> tuple[str, str]:
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not started.exists():
        proc.kill()
        raise AssertionError(f"sum_numbers never started: {proc.communicate(timeout=30)}")
    proc.send_signal(signum)
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the run did not end within 60 s of the signal") from None


@pytest.mark.parametrize("max_parallel", ["1", "2"])
@pytest.mark.parametrize(
    ("signum", "status", "said", "why"),
    [
        (signal.SIGINT, 130, "interrupted:", "interrupted (Ctrl-C)"),
        (signal.SIGTERM, 143, "terminated (SIGTERM):", "interrupted (SIGTERM)"),
    ],
)
def test_a_signalled_run_leaves_nothing_running_and_no_scratch(
    tmp_path, max_parallel, signum, status, said, why
):
    """With nodes in threads, Ctrl-C left the running node's execution RUNNING forever and
    its scratch folder behind; SIGTERM killed the process with no clean-up at all."""
    root, started = tmp_path / "root", tmp_path / "started"
    proc = _start(CLI_RUN, str(root), str(started), str(tmp_path / "release"), max_parallel)
    _out, err = _signal_when_started(proc, started, signum)
    assert proc.returncode == status, err
    assert err.startswith(said) and "Traceback" not in err, err

    store = MetadataStore(default_metadata_url(str(root)))
    (run,) = store.runs()
    assert run["status"] == "FAILED" and run["error"] == why
    executions = {e.node_id: e for e in store.executions(run["run_id"])}
    assert executions["write_numbers"].status == "COMPLETE"
    assert executions["sum_numbers"].status == "FAILED"
    if max_parallel == "2":  # abandoned in its thread: recorded by the run's clean-up
        assert executions["sum_numbers"].error.startswith(f"{why} while this node was running")
    assert list((root / "_tmp").iterdir()) == []


def test_a_node_that_finishes_after_the_interrupt_records_and_reports_nothing(tmp_path):
    """Its thread could not be stopped; once it ended it recorded its own outcome over the
    interruption (once a spurious SystemError from a torn-down interpreter)."""
    root, started, release = tmp_path / "root", tmp_path / "started", tmp_path / "release"
    proc = _start(API_RUN, str(root), str(started), str(release))
    out, err = _signal_when_started(proc, started, signal.SIGINT)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["finished write_numbers COMPLETE", "interrupted", "thread ended"]

    store = MetadataStore(default_metadata_url(str(root)))
    (run,) = store.runs()
    (execution,) = [e for e in store.executions(run["run_id"]) if e.node_id == "sum_numbers"]
    assert execution.status == "FAILED" and "interrupted (Ctrl-C)" in execution.error
    published = root / "sum_numbers" / "model" / execution.fingerprint
    assert json.loads((published / "total.json").read_text()) == 10  # it did finish
    assert store.artifact_by_uri(str(published)) is None  # but recorded nothing
