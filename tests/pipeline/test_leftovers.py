"""What killed runs leave behind (output temporaries, scratch folders) is removed by the next
execution once its owner process is gone, whatever its fingerprint or run; what a live process
owns is never touched, nor, until it was left untouched for a day, what one whose owner cannot
be checked from here owns (an older version's names, another PID namespace)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from seqline.pipeline import execution
from seqline.pipeline.locking import (
    UNCHECKABLE_AGE,
    owned_name,
    remove_dead_owned,
    remove_dead_temporaries,
)
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


def _here() -> str:
    """`{host}~{pidns}` of the owner names this process makes."""
    return owned_name("x").rsplit("@", 1)[1]


def _make(parent: Path, names: dict[str, str], old: tuple[str, ...] = ()) -> None:
    """Makes the folders `names`; those of `old` untouched for longer than UNCHECKABLE_AGE."""
    for key, name in names.items():
        (parent / name).mkdir()
        if key in old:
            then = time.time() - UNCHECKABLE_AGE - 3600
            os.utime(parent / name, (then, then))


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
    dead, here = _dead_pid(), _here()
    names = {
        "live": f".tmp-{'a' * 20}-0000000a-{os.getpid()}@{here}",
        "dead": f".tmp-{'b' * 20}-0000000b-{dead}@{here}",
        "dead_other_fingerprint": f".tmp-{'c' * 20}-0000000c-{dead}@{here}",
        "other_host": f".tmp-{'d' * 20}-0000000d-1@another-host.example~4026531836",
        "unowned": f".tmp-{'e' * 20}-0000000e",
        "unowned_old": f".tmp-{'9' * 20}-0000000f",
        "published": "f" * 20,
    }
    _make(tmp_path, names, old=("unowned_old",))
    removed = remove_dead_temporaries(str(tmp_path))
    assert sorted(removed) == sorted(
        [names["dead"], names["dead_other_fingerprint"], names["unowned_old"]]
    )
    assert sorted(os.listdir(tmp_path)) == sorted(
        [names["live"], names["other_host"], names["unowned"], names["published"]]
    )


def test_scratch_of_dead_processes_is_removed_and_live_scratch_kept(tmp_path):
    dead, here = _dead_pid(), _here()
    names = {
        "live": f"run-1-train-0000000a-{os.getpid()}@{here}",
        "dead": f"run-2-train-0000000b-{dead}@{here}",
        "other_host": "run-3-train-0000000c-1@another-host.example~4026531836",
    }
    _make(tmp_path, names)
    assert remove_dead_owned(str(tmp_path)) == [names["dead"]]
    assert sorted(os.listdir(tmp_path)) == sorted([names["live"], names["other_host"]])


def test_an_older_versions_live_scratch_is_left_alone(tmp_path):
    """Scratch names had no owner before (`{run}-{node}-{token}`): a run of the new version
    removed the scratch of a run of the old one writing on the same root (a rolling upgrade
    of workers sharing it). Such names, and owners named without a PID namespace, count as
    dead only once nothing in them was modified for UNCHECKABLE_AGE."""
    dead, host = _dead_pid(), _here().split("~")[0]
    names = {
        "old_version_live": "run-4-train-0000000d",
        "old_version_killed": "run-5-train-0000000e",
        "old_version_writing": "run-6-train-0000000f",  # its folder old, a file in it fresh
        "owner_without_pidns_live": f"run-7-train-00000010-{dead}@{host}",
        "owner_without_pidns_killed": f"run-8-train-00000011-{dead}@{host}",
    }
    _make(tmp_path, names, old=("old_version_killed", "old_version_writing",
                                "owner_without_pidns_killed"))  # fmt: skip
    (tmp_path / names["old_version_writing"] / "part-0").write_text("written now")
    then = time.time() - UNCHECKABLE_AGE - 3600
    os.utime(tmp_path / names["old_version_writing"], (then, then))
    removed = remove_dead_owned(str(tmp_path))
    assert sorted(removed) == sorted(
        [names["old_version_killed"], names["owner_without_pidns_killed"]]
    )
    assert sorted(os.listdir(tmp_path)) == sorted(
        [names["old_version_live"], names["old_version_writing"],
         names["owner_without_pidns_live"]]
    )  # fmt: skip


def test_scratch_of_another_pid_namespace_is_judged_by_age_not_by_pid(tmp_path):
    """Containers sharing the hostname (`--network host`) but not their PIDs: a pid of
    another namespace says nothing here, so its owner's liveness cannot be checked."""
    dead, host = _dead_pid(), _here().split("~")[0]
    names = {
        "other_namespace_live": f"run-1-train-0000000a-{dead}@{host}~1",
        "other_namespace_killed": f"run-2-train-0000000b-{dead}@{host}~1",
    }
    _make(tmp_path, names, old=("other_namespace_killed",))
    assert remove_dead_owned(str(tmp_path)) == [names["other_namespace_killed"]]
    assert os.listdir(tmp_path) == [names["other_namespace_live"]]


def test_an_execution_keeps_an_older_versions_live_scratch(tmp_path):
    root = tmp_path / "root"
    old_version = root / execution.SCRATCH_DIR / "run-1-sum_numbers-0000000d"
    old_version.mkdir(parents=True)
    result = run_pipeline(make_pipeline(root, scale=3))
    assert [n.status for n in result.nodes] == ["COMPLETE", "COMPLETE"]
    assert os.listdir(root / execution.SCRATCH_DIR) == [old_version.name]


def test_a_run_after_a_killed_one_removes_its_leftovers_whatever_the_config(tmp_path):
    """kill -9 inside sum_numbers, change its config, run again: the killed execution's
    temporary (another fingerprint) and its scratch folder (another run) stayed forever."""
    root = tmp_path / "root"
    _kill_inside_sum_numbers(tmp_path, root)
    model_dir = root / "sum_numbers" / "model"
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".tmp-")]
    assert list((root / "_tmp").iterdir()), "the killed execution had a scratch folder"

    # Scratch a live process owns (this one) must survive the sweep.
    live = root / "_tmp" / owned_name("other-run-node")
    live.mkdir()
    result = run_pipeline(make_pipeline(root, scale=3))  # another fingerprint for sum_numbers
    assert [n.status for n in result.nodes] == ["CACHED", "COMPLETE"]
    assert [p.name for p in model_dir.iterdir()] == [result.node("sum_numbers").fingerprint]
    assert [p.name for p in (root / "_tmp").iterdir()] == [live.name]
