"""Atomic versioned publication (components/push/publish.py), including kill -9 mid-push."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from seqline.components.push import publish
from seqline.components.push.publish import (
    integer_versions,
    publish_version,
)
from tests.components.push.push_inputs import tree_bytes, write_fake_saved_model

INTEGER = re.compile(r"^[0-9]+$")


def _entries(model_dir: Path) -> list[str]:
    return sorted(os.listdir(model_dir)) if model_dir.exists() else []


def test_pushes_take_increasing_integer_versions(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = tmp_path / "serving" / "sentiment"
    results = [publish_version(str(source), str(model_dir)) for _ in range(3)]
    assert [r.version for r in results] == [1, 2, 3]
    for result in results:
        assert result.destination == str(model_dir / str(result.version))
        assert tree_bytes(Path(result.destination)) == tree_bytes(source)
    # Only version directories and the (TF-Serving-ignored) lock file remain: no temporaries.
    assert _entries(model_dir) == [".seqline-push.lock", "1", "2", "3"]


def test_next_version_follows_the_highest_existing_one(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = tmp_path / "m"
    for existing in ("3", "10", "not_a_version", "7b"):
        (model_dir / existing).mkdir(parents=True)
    assert integer_versions(str(model_dir)) == [3, 10]
    assert publish_version(str(source), str(model_dir)).version == 11


def test_leftover_temporary_from_a_crash_is_not_a_version_and_is_cleaned(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = tmp_path / "m"
    # What a push killed mid-copy leaves: a half-filled temporary sibling.
    leftover = model_dir / f".tmp-1-{uuid.uuid4().hex}"
    (leftover / "variables").mkdir(parents=True)
    (leftover / "variables" / "variables.index").write_bytes(b"partial")
    unrelated = model_dir / ".tmp-notes"  # not ours: must survive
    unrelated.mkdir()

    assert not INTEGER.match(leftover.name)
    assert integer_versions(str(model_dir)) == []  # TF Serving would see no version either

    result = publish_version(str(source), str(model_dir))
    assert result.version == 1
    assert not leftover.exists()
    assert unrelated.exists()
    assert tree_bytes(model_dir / "1") == tree_bytes(source)


def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = tmp_path / "m"
    real_copy = publish._copy_file_local
    copied: list[str] = []

    def copy_until_disk_full(src: str, dst: str) -> None:
        if len(copied) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(src, dst)
        copied.append(src)

    monkeypatch.setattr(publish, "_copy_file_local", copy_until_disk_full)
    with pytest.raises(OSError, match="No space left"):
        publish_version(str(source), str(model_dir))
    assert _entries(model_dir) == [".seqline-push.lock"]


def test_saved_model_pb_is_copied_last(tmp_path: Path, monkeypatch) -> None:
    source = write_fake_saved_model(tmp_path / "src", shards=3)
    order: list[str] = []
    real_copy = publish._copy_file_local

    def recording_copy(src: str, dst: str) -> None:
        order.append(os.path.relpath(src, source))
        real_copy(src, dst)

    monkeypatch.setattr(publish, "_copy_file_local", recording_copy)
    publish_version(str(source), str(tmp_path / "m"))
    assert order[-1] == "saved_model.pb"
    assert sorted(order) == sorted(tree_bytes(source))


def test_missing_saved_model_pb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        publish_version(str(tmp_path / "empty"), str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


# A child process that pushes, but blocks (waiting on stdin) after copying `block_after` files,
# so the test can kill -9 it at a known point of the copy.
_BLOCKING_PUSH = """
import sys
from seqline.components.push import publish

source, model_dir, block_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
real_copy = publish._copy_file_local
copied = []

def copy_then_block(src, dst):
    real_copy(src, dst)
    copied.append(src)
    if len(copied) == block_after:
        print("BLOCKED", flush=True)
        sys.stdin.readline()  # never answered: the test kills us here

publish._copy_file_local = copy_then_block
publish.publish_version(source, model_dir)
print("DONE", flush=True)
"""

# A child process that pushes in a loop and reports each version; killed at an arbitrary moment.
_LOOPING_PUSH = """
import sys
from seqline.components.push import publish

source, model_dir = sys.argv[1], sys.argv[2]
while True:
    print(publish.publish_version(source, model_dir).version, flush=True)
"""


def _child(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("block_after", [1, 3, 6])  # 6 = every file, saved_model.pb included
def test_kill_9_mid_copy_leaves_no_version_and_next_push_recovers(
    tmp_path: Path, block_after: int
) -> None:
    source = write_fake_saved_model(tmp_path / "src", shards=2)
    assert len(tree_bytes(source)) == 6
    model_dir = tmp_path / "m"
    child = _child(_BLOCKING_PUSH, str(source), str(model_dir), str(block_after))
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "BLOCKED"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        child.stdin.close()  # type: ignore[union-attr]
        child.stdout.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL

    entries = _entries(model_dir)
    assert not [e for e in entries if INTEGER.match(e)], entries  # TF Serving sees nothing
    temporaries = [e for e in entries if e.startswith(".tmp-")]
    assert len(temporaries) == 1

    # The next push (the lock died with the child) cleans up and publishes version 1.
    result = publish_version(str(source), str(model_dir))
    assert result.version == 1
    assert tree_bytes(model_dir / "1") == tree_bytes(source)
    assert _entries(model_dir) == [".seqline-push.lock", "1"]


def _wait_for_copy_in_progress(model_dir: Path, min_files: int, child: subprocess.Popen) -> None:
    """Spins until some temporary sibling holds at least `min_files` files (a push is mid-copy).
    The deadline only guards against a hung child; nothing asserts on time."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, "the pushing child exited on its own"
        for entry in _entries(model_dir):
            if entry.startswith(".tmp-"):
                files = sum(len(f) for _r, _d, f in os.walk(model_dir / entry))
                if files >= min_files:
                    return
    pytest.fail(f"no push in progress appeared in {model_dir}")


def test_kill_9_while_pushing_in_a_loop_never_leaves_an_incomplete_version(
    tmp_path: Path,
) -> None:
    source = write_fake_saved_model(tmp_path / "src", shards=12, shard_bytes=256 * 1024)
    expected = tree_bytes(source)
    model_dir = tmp_path / "m"
    # Each round kills a child that pushes back to back, at a later point of a copy.
    for min_files in (1, 5, 10):
        child = _child(_LOOPING_PUSH, str(source), str(model_dir))
        try:
            assert child.stdout is not None
            child.stdout.readline()  # at least one complete push per round
            _wait_for_copy_in_progress(model_dir, min_files, child)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait()
            child.stdin.close()  # type: ignore[union-attr]
            child.stdout.close()  # type: ignore[union-attr]

        for version in integer_versions(str(model_dir)):
            assert tree_bytes(model_dir / str(version)) == expected, f"version {version} torn"

    versions = integer_versions(str(model_dir))
    assert versions == list(range(1, len(versions) + 1))  # dense: no number lost or reused
    result = publish_version(str(source), str(model_dir))
    assert result.version == versions[-1] + 1
    assert not [e for e in _entries(model_dir) if e.startswith(".tmp-")]


def test_local_marker_and_adoption_import_no_tensorflow(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    script = f"""
import sys
from seqline.components.push.publish import publish_version
marker = {{"model_fingerprint": "a"}}
first = publish_version({str(source)!r}, {str(tmp_path / "m")!r}, marker)
again = publish_version({str(source)!r}, {str(tmp_path / "m")!r}, marker)
assert (first.version, again.version, again.adopted) == (1, 1, True), (first, again)
assert "tensorflow" not in sys.modules, "a local push imported TensorFlow"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
