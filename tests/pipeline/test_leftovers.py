"""What killed runs leave behind (output temporaries, scratch folders) is removed by the next
execution once its owner process is gone, whatever its fingerprint or run; what a live process
owns is never touched."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from seqline.pipeline.locking import remove_dead_owned, remove_dead_temporaries
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

REPO = Path(__file__).resolve().parents[2]

# Runs write_numbers -> sum_numbers(scale) and blocks inside sum_numbers until killed.
BLOCKING_RUN = """
import sys
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy

root, started, release = sys.argv[1:4]
run_pipeline(Pipeline("toy", root, [
    Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig()),
    Node(toy.SUM_NUMBERS, toy.SumConfig(started_file=started, release_file=release),
         {"examples": OutputRef("write_numbers", "examples")}),
]), max_parallel=1)
"""


def _dead_pid() -> int:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    return exited.pid


def _kill_inside_sum_numbers(tmp_path: Path, root: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKING_RUN, str(root), str(started), str(release)], cwd=REPO
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the run never reached sum_numbers"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_dead_temporaries_of_every_fingerprint_are_removed(tmp_path):
    """Only the killed run's own fingerprint was swept: after a config change its
    temporaries stayed forever."""
    dead, host = _dead_pid(), socket.gethostname()
    names = {
        "live": f".tmp-{'a' * 20}-0000000a-{os.getpid()}@{host}",
        "dead": f".tmp-{'b' * 20}-0000000b-{dead}@{host}",
        "dead_other_fingerprint": f".tmp-{'c' * 20}-0000000c-{dead}@{host}",
        "other_host": f".tmp-{'d' * 20}-0000000d-1@another-host.example",
        "unowned": f".tmp-{'e' * 20}-0000000e",
        "published": "f" * 20,
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    removed = remove_dead_temporaries(str(tmp_path))
    assert sorted(removed) == sorted(
        [names["dead"], names["dead_other_fingerprint"], names["unowned"]]
    )
    assert sorted(os.listdir(tmp_path)) == sorted(
        [names["live"], names["other_host"], names["published"]]
    )


def test_scratch_of_dead_processes_is_removed_and_live_scratch_kept(tmp_path):
    dead, host = _dead_pid(), socket.gethostname()
    names = {
        "live": f"run-1-train-0000000a-{os.getpid()}@{host}",
        "dead": f"run-2-train-0000000b-{dead}@{host}",
        "other_host": "run-3-train-0000000c-1@another-host.example",
        "unowned": "run-4-train-0000000d",  # written before scratch names had an owner
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    assert sorted(remove_dead_owned(str(tmp_path))) == sorted([names["dead"], names["unowned"]])
    assert sorted(os.listdir(tmp_path)) == sorted([names["live"], names["other_host"]])


def test_a_run_after_a_killed_one_removes_its_leftovers_whatever_the_config(tmp_path):
    """kill -9 inside sum_numbers, change its config, run again: the killed execution's
    temporary (another fingerprint) and its scratch folder (another run) stayed forever."""
    root = tmp_path / "root"
    _kill_inside_sum_numbers(tmp_path, root)
    model_dir = root / "sum_numbers" / "model"
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".tmp-")]
    assert list((root / "_tmp").iterdir()), "the killed execution had a scratch folder"

    # Scratch a live process owns (this one) must survive the sweep.
    live = root / "_tmp" / f"other-run-node-0000000a-{os.getpid()}@{socket.gethostname()}"
    live.mkdir()
    result = run_pipeline(make_pipeline(root, scale=3))  # another fingerprint for sum_numbers
    assert [n.status for n in result.nodes] == ["CACHED", "COMPLETE"]
    assert [p.name for p in model_dir.iterdir()] == [result.node("sum_numbers").fingerprint]
    assert [p.name for p in (root / "_tmp").iterdir()] == [live.name]
