"""Two runs on one pipeline root: shared work, untouched live temporaries, remote-root leases."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqline.pipeline.locking import (
    OwnerCheck,
    ProcessOwner,
    RootBusyError,
    check_process,
    node_lock,
    owned_name,
    process_start,
    remove_dead_temporaries,
    try_node_lock,
)
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

REPO = Path(__file__).resolve().parents[2]

RUN_SCRIPT = """
import sys
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.runner import Progress, run_pipeline
from tests.pipeline import toy_components as toy

class Say(Progress):
    def node_message(self, node, message):
        print(node.node_id, message, flush=True)

    def node_finished(self, index, total, result):
        print(result.node_id, result.status, flush=True)

root, log, started, release = sys.argv[1:5]
run_pipeline(Pipeline("toy", root, [
    Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig(calls_log=log)),
    Node(toy.SUM_NUMBERS, toy.SumConfig(calls_log=log, started_file=started,
         release_file=release), {"examples": OutputRef("write_numbers", "examples")}),
]), progress=Say())
"""


def _wait_for_file(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), "the first run never reached the blocking component"


def test_a_second_run_waits_for_the_node_the_first_is_executing_and_reuses_it(tmp_path):
    root, log = tmp_path / "root", tmp_path / "calls.txt"
    started, release = tmp_path / "started", tmp_path / "release"
    args = [sys.executable, "-c", RUN_SCRIPT, str(root), str(log), str(started), str(release)]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
    second = None
    try:
        _wait_for_file(started, first)  # the first run is inside sum_numbers, holding its lock
        second = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
        lines = []
        for line in second.stdout:  # blocks until the second run reports it is waiting
            lines.append(line.strip())
            if "waiting for run" in line:
                break
        assert lines[-1].startswith("sum_numbers waiting for run "), lines
        assert f"pid {first.pid}" in lines[-1]
        # The first run's temporary is intact while the second run waits.
        temporaries = list((root / "sum_numbers" / "model").glob(".tmp-*"))
        assert len(temporaries) == 1 and (temporaries[0] / "partial.txt").exists()
        release.write_text("go")
        assert first.wait(timeout=60) == 0
        rest = second.stdout.read().split("\n")
        assert second.wait(timeout=60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert "sum_numbers CACHED" in rest
    assert log.read_text().split() == ["write_numbers", "sum_numbers"]  # each executed once
    store = MetadataStore(default_metadata_url(str(root)))
    assert [r["status"] for r in store.runs()] == ["SUCCEEDED", "SUCCEEDED"]


def test_try_node_lock_takes_the_node_lock_without_waiting(tmp_path):
    """train's sweep of stale work dirs takes the very lock a run executing that node holds."""
    with node_lock(str(tmp_path), "train", "f" * 20, "run-1"):
        assert try_node_lock(str(tmp_path), "train", "f" * 20) is None
        other = try_node_lock(str(tmp_path), "train", "e" * 20)  # another fingerprint: free
        assert other is not None
        os.close(other)
    fd = try_node_lock(str(tmp_path), "train", "f" * 20)
    assert fd is not None
    os.close(fd)


def test_only_temporaries_of_dead_owners_are_removed(tmp_path):
    fingerprint = "f" * 20
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    here = owned_name("x").rsplit("@", 1)[1]  # {host}~{pid namespace}
    names = {
        "live": f".tmp-{fingerprint}-0000000a-{os.getpid()}@{here}",
        "dead": f".tmp-{fingerprint}-0000000b-{exited.pid}@{here}",
        "other_host": f".tmp-{fingerprint}-0000000c-1@another-host.example~4026531836",
        "unowned": f".tmp-{fingerprint}-0000000d",  # an older version's: may be live, recent
        "other_fingerprint": f".tmp-{'e' * 20}-0000000e-{exited.pid}@{here}",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    removed = remove_dead_temporaries(str(tmp_path), fingerprint)
    assert removed == [names["dead"]]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [names["live"], names["other_host"], names["unowned"], names["other_fingerprint"]]
    )


def test_a_remote_root_is_leased_to_one_run_at_a_time(tmp_path):
    url = "sqlite:///" + str(tmp_path / "metadata.sqlite")
    root = "gs://bucket/pipelines/toy"
    holder, other = MetadataStore(url), MetadataStore(url)
    holder.acquire_root(root, "run-a")
    with pytest.raises(RootBusyError) as err:
        other.acquire_root(root, "run-b")
    host = socket.gethostname()
    assert str(err.value).startswith(f"another run (run-a, pid {os.getpid()}, host {host}) holds")
    assert root in str(err.value)
    # The runner fails at once, before touching the root.
    pipeline = make_pipeline(root)
    with pytest.raises(RootBusyError, match="another run \\(run-a"):
        run_pipeline(dataclasses.replace(pipeline, metadata_url=url))
    assert holder.release_root(root, "run-a")
    other.acquire_root(root, "run-b")
    other.release_root(root)

    # A lease left by a dead process of this host is taken over.
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    from seqline.pipeline import metadata

    with holder._engine.begin() as conn:
        conn.execute(
            metadata.ROOT_LEASES.insert().values(
                root=root, run_id="dead", pid=exited.pid, host=host, acquired_at=0.0
            )
        )
    other.acquire_root(root, "run-c")
    assert other.release_root(root, "run-c")


def test_one_remote_root_spelled_two_ways_is_leased_once(tmp_path):
    """`gs://b/p` and `gs://b/p/` are the same folders (filesystem.join strips the '/'), but
    the lease compared the strings: both runs got one and wrote the same artifacts."""
    url = "sqlite:///" + str(tmp_path / "metadata.sqlite")
    holder, other = MetadataStore(url), MetadataStore(url)
    holder.acquire_root("gs://bucket/pipelines/toy", "run-a")
    for spelling in (
        "gs://bucket/pipelines/toy/",
        "gs://bucket//pipelines/toy",
        "GS://bucket/pipelines/toy",
    ):
        with pytest.raises(RootBusyError, match="another run \\(run-a"):
            other.acquire_root(spelling, "run-b")
    # `seqline unlock gs://bucket/pipelines/toy/` ends it too.
    assert holder.release_root("gs://bucket/pipelines/toy/")
    other.acquire_root("gs://bucket/pipelines/toy/", "run-b")
    assert other.release_root("gs://bucket/pipelines/toy", "run-b")


@pytest.mark.parametrize(
    "old_spelling",
    ["gs://bucket/pipelines/toy/", "gs://bucket//pipelines/toy", "GS://bucket/pipelines/toy"],
)
def test_a_lease_an_older_version_stored_under_another_spelling_blocks_and_is_unlocked(
    tmp_path, capsys, old_spelling
):
    """The previous version stored the root as the run spelled it: its live run's lease let a
    new run on `gs://b/p` start beside it, and `seqline unlock gs://b/p` said no lease was
    held (only the exact old spelling ended it)."""
    from seqline.pipeline import metadata
    from seqline.pipeline.cli import main

    url = "sqlite:///" + str(tmp_path / "metadata.sqlite")
    store = MetadataStore(url)
    me = ProcessOwner.this_process()
    with store._engine.begin() as conn:
        conn.execute(
            metadata.ROOT_LEASES.insert().values(
                root=old_spelling,
                run_id="old-run",
                pid=me.pid,
                host=me.host,
                acquired_at=time.mktime((2026, 12, 7, 17, 31, 2, 0, 0, -1)),
                pidns=me.pidns,
                proc_start=me.start,
            )
        )
    with pytest.raises(RootBusyError) as err:
        store.acquire_root("gs://bucket/pipelines/toy", "new-run")
    assert str(err.value).startswith(f"another run (old-run, pid {me.pid}, host {me.host})")
    assert f"(recorded as {old_spelling})" in str(err.value)

    assert main(["unlock", "gs://bucket/pipelines/toy", "--metadata-url", url]) == 0
    assert capsys.readouterr().out == (
        f"released the lease on gs://bucket/pipelines/toy (recorded as {old_spelling}) held by "
        f"run old-run (pid {me.pid}, host {me.host}, since 2026-12-07 17:31:02)\n"
    )
    store.acquire_root("gs://bucket/pipelines/toy", "new-run")
    (lease,) = store.release_root(old_spelling, "new-run")
    assert (lease.root, lease.run_id) == ("gs://bucket/pipelines/toy", "new-run")
    assert main(["unlock", old_spelling, "--metadata-url", url]) == 0
    assert capsys.readouterr().out == "no lease was held on gs://bucket/pipelines/toy\n"


_ME = ProcessOwner.this_process()


def _lease(store: MetadataStore, root: str, **owner) -> None:
    from seqline.pipeline import metadata

    with store._engine.begin() as conn:
        conn.execute(
            metadata.ROOT_LEASES.insert().values(
                root=root, run_id="holder", host=socket.gethostname(), acquired_at=0.0, **owner
            )
        )


@pytest.mark.skipif(_ME.pidns is None, reason="PID namespaces are read from Linux /proc")
def test_a_lease_of_another_pid_namespace_under_this_hostname_is_not_taken_over(tmp_path):
    """Containers sharing a hostname (--network host, hostNetwork pods, a restarted container)
    have their own pids: a lease whose pid is dead *here* may be held by a live run there,
    and taking it over put two runs on one remote root."""
    store = MetadataStore("sqlite:///" + str(tmp_path / "metadata.sqlite"))
    root = "gs://bucket/pipelines/toy"
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    _lease(store, root, pid=exited.pid, pidns="1", proc_start="another-boot/1")
    with pytest.raises(RootBusyError) as err:
        store.acquire_root(root, "run-b")
    message = str(err.value)
    assert f"another run (holder, pid {exited.pid}, host {socket.gethostname()})" in message
    assert f"seqline unlock {root}" in message and "container restarted" in message


@pytest.mark.skipif(_ME.start is None, reason="process start times are read from Linux /proc")
def test_a_lease_whose_pid_a_later_process_reuses_is_taken_over(tmp_path):
    """A lease whose pid is alive here but owned by a process that started at another time
    (pid reused: a container's pipeline is pid 1 again after a restart) is stale; judged by
    (host, pid) alone it blocked the root forever."""
    store = MetadataStore("sqlite:///" + str(tmp_path / "metadata.sqlite"))
    root = "gs://bucket/pipelines/toy"
    _lease(store, root, pid=_ME.pid, pidns=_ME.pidns, proc_start=f"{_ME.start}0")
    store.acquire_root(root, "run-b")
    assert store.release_root(root, "run-b")
    # The same process, still there, keeps its lease.
    _lease(store, root, pid=_ME.pid, pidns=_ME.pidns, proc_start=_ME.start)
    with pytest.raises(RootBusyError):
        store.acquire_root(root, "run-c")


@pytest.mark.skipif(_ME.start is None, reason="process start times are read from Linux /proc")
def test_a_recorded_process_is_alive_while_it_runs_and_dead_once_it_ended():
    """process_start reads field 22 of /proc/PID/stat after the command name, which may hold
    spaces and parentheses; the child's own reading and ours must agree."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "open('/proc/self/comm', 'w').write('a) b (c')\n"
            "from seqline.pipeline.locking import ProcessOwner\n"
            "print(ProcessOwner.this_process().start, flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        start = child.stdout.readline().strip()
        assert process_start(child.pid) == start
        owner = ProcessOwner(_ME.host, child.pid, _ME.pidns, start)
        assert check_process(owner) is OwnerCheck.KEEP
    finally:
        child.communicate("")
    assert check_process(owner) is OwnerCheck.DEAD
    assert check_process(ProcessOwner("another-host.example", child.pid)) is OwnerCheck.UNCHECKABLE
