"""Two pushes of the same model at the same time never take the same version number."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

from seqline.components.push import publish
from seqline.components.push.publish import publish_version
from tests.components.push.push_inputs import tree_bytes, write_fake_saved_model


def test_concurrent_pushes_take_distinct_versions(tmp_path: Path, monkeypatch) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = tmp_path / "serving" / "sentiment"
    first_copying = threading.Event()
    second_at_lock = threading.Event()
    real_flock, real_copy = fcntl.flock, publish._copy_tree_local

    def flock(fd, operation):
        if threading.current_thread().name == "second" and operation == fcntl.LOCK_EX:
            second_at_lock.set()  # the second push is about to wait for the lock
        return real_flock(fd, operation)

    def copy(src, dst):
        if threading.current_thread().name == "first":
            first_copying.set()
            # Hold the first push mid-copy until the second one is contending for the lock.
            assert second_at_lock.wait(timeout=30), "the second push never reached the lock"
        real_copy(src, dst)

    monkeypatch.setattr(fcntl, "flock", flock)
    monkeypatch.setattr(publish, "_copy_tree_local", copy)
    results: dict[str, publish.Published] = {}
    errors: list[BaseException] = []

    def push(name: str) -> None:
        try:
            results[name] = publish_version(str(source), str(model_dir))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    first = threading.Thread(target=push, args=("first",), name="first")
    second = threading.Thread(target=push, args=("second",), name="second")
    first.start()
    assert first_copying.wait(timeout=30)
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)
    assert not errors, errors
    assert (results["first"].version, results["second"].version) == (1, 2)
    for result in results.values():
        assert tree_bytes(Path(result.destination)) == tree_bytes(source)
    assert sorted(p.name for p in model_dir.iterdir()) == [".seqline-push.lock", "1", "2"]
