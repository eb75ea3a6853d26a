"""The root lock (pipeline/root_lock.py): runs hold it shared, `seqline gc` exclusively."""

from __future__ import annotations

import fcntl
import logging
import os

from seqline.pipeline.root_lock import root_in_use
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_retention import full_pipeline, undeletable


def _held_shared(lock_path) -> bool:
    """True if some descriptor holds `lock_path` shared: an exclusive flock is refused."""
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_root_this_user_may_not_write_is_held_through_the_existing_lock_file(tmp_path):
    """A fully cached run reads a root it may not write (a read-only mount): opening the lock
    file for writing failed the run with an OSError it did not fail with before the lock."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(full_pipeline(root, serving, 1, 1))
    lock = root / "_locks" / ".root.lock"
    with undeletable(lock):
        with root_in_use(str(root)):
            assert _held_shared(lock)  # gc is still kept out
        again = run_pipeline(full_pipeline(root, serving, 1, 1))
    assert {n.status for n in again.nodes} == {"CACHED"}
    assert again.node("train").fingerprint == first.node("train").fingerprint


def test_without_a_lock_file_to_open_a_run_goes_on_and_says_so(tmp_path, caplog):
    """A root a seqline without the root lock wrote, read by a user who may not write it."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    run_pipeline(full_pipeline(root, serving, 1, 1))
    lock = root / "_locks" / ".root.lock"
    lock.unlink()
    caplog.set_level(logging.WARNING, logger="seqline.pipeline.root_lock")
    with undeletable(root / "_locks"):
        again = run_pipeline(full_pipeline(root, serving, 1, 1))
    assert {n.status for n in again.nodes} == {"CACHED"}
    assert not lock.exists()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"cannot take the root lock {lock}" in warning
    assert "does not hold the root against `seqline gc`" in warning
