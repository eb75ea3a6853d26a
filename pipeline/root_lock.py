"""The root lock of a local pipeline root: every run holds it shared, `seqline gc` exclusively.

`{root}/_locks/.root.lock` (beside the node locks of pipeline/locking.py). Runs share a root
(node locks decide who executes what); gc (pipeline/retention.py) deletes only while no run
holds it, and a run started meanwhile waits for gc. Remote roots have no flock: there a run
leases the whole root in the metadata store (MetadataStore.acquire_root), and gc takes that
lease too.

Its own module, not locking.py: components import locking.py, so its bytes are part of their
fingerprints (pipeline/fingerprint.py), and nothing a run does while holding the root changes
what a node computes.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable, Iterator

from seqline.pipeline.locking import LOCKS_DIR, try_exclusive
from seqline.storage import filesystem

# Held shared by every run on a local root while it runs, exclusively by `seqline gc`
# (pipeline/retention.py): runs share a root, gc deletes from it only when none runs.
ROOT_LOCK = ".root.lock"

log = logging.getLogger(__name__)

# What opening a file of a root this user may not write fails with.
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def root_lock_path(root: str) -> str:
    """`{root}/_locks/.root.lock` of a local root, as a local path."""
    return os.path.join(filesystem.local_path(root), LOCKS_DIR, ROOT_LOCK)


def _open_root_lock(root: str) -> int:
    """A new file descriptor on `{root}/_locks/.root.lock` (a local root)."""
    path = root_lock_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT)


def _open_shared_lock(root: str) -> int | None:
    """A descriptor a run can hold the root lock shared on: `_open_root_lock`'s, or, in a root
    this user may not write (a read-only mount a fully cached run reads), the existing lock
    file opened for reading (flock needs no write access). None when there is none to open:
    the run then goes on without it (it can only reuse the cache there), saying so."""
    try:
        return _open_root_lock(root)
    except OSError as exc:
        if exc.errno not in _NOT_WRITABLE:
            raise
        path = root_lock_path(root)
        try:
            return os.open(path, os.O_RDONLY)
        except OSError as also:
            if also.errno not in (*_NOT_WRITABLE, errno.ENOENT):
                raise
            log.warning(
                "cannot take the root lock %s (%s): this run does not hold the root against "
                "`seqline gc`, which may then delete what it reads",
                path,
                exc.strerror or exc,
            )
            return None


@contextlib.contextmanager
def root_in_use(root: str, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Holds a shared lock on a local root while a run uses it; calls `on_wait()` once if
    `seqline gc` holds it, then waits for gc to finish. In a root this user may not write, see
    _open_shared_lock. Does nothing on remote roots (the run leases the whole root there,
    MetadataStore.acquire_root, which gc takes too)."""
    if filesystem.is_remote(root):
        yield
        return
    import fcntl

    fd = _open_shared_lock(root)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def try_root_exclusive(root: str) -> int | None:
    """The exclusive lock on a local root that `seqline gc` holds while it deletes, without
    waiting: its file descriptor (close it to release), or None while a run holds the root
    (root_in_use). Local roots only."""
    return try_exclusive(_open_root_lock(root))
