"""Several runs on one pipeline root: who owns a temporary, who may execute a node.

- Temporaries carry their owner: `.tmp-{fingerprint}-{token}-{pid}@{host}`, and so do scratch
  directories, `_tmp/{run}-{node}-{token}-{pid}@{host}`. A run removes those whose owner is
  dead (same host, process gone) or unknown (an older naming), whatever their fingerprint or
  run, never one a live process is writing.
- Node locks (local roots): before executing node N with fingerprint F, a run takes an
  exclusive flock on `{root}/_locks/{N}-{F}.lock`. A second run that needs the same execution
  waits for the first, then finds the published outputs and reuses them (CACHED). Runs that
  need different executions never wait for each other. The kernel releases a flock when its
  process dies, so a killed run never blocks the next one. A run executing nodes in parallel
  (pipeline/scheduling.py) holds one lock per node thread, each on its own file descriptor
  (flocks of separate opens exclude each other even within one process); a thread holds a lock
  only while executing and never waits for another lock meanwhile, so runs cannot deadlock.
- Remote roots (gs://, s3://) have no flock: a run takes a lease on the whole root in the
  metadata database instead (RootLease), and a second run fails at once with
  `another run (id, pid, host) holds ROOT`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from seqline.pipeline.errors import SeqlineError
from seqline.storage import filesystem

TEMP_PREFIX = ".tmp-"
LOCKS_DIR = "_locks"
# `{base}-{8 hex}-{pid}@{host}`: a name that carries its owner (temporaries, scratch folders).
_OWNED = re.compile(r"^(?P<base>.+)-(?P<token>[0-9a-f]{8})-(?P<pid>[0-9]+)@(?P<host>[^@/]+)$")


class RootBusyError(SeqlineError):
    """Another live run holds the pipeline root (remote roots, which cannot lock per node)."""


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists on this host (or we may not signal it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host() -> str:
    return socket.gethostname()


def owned_name(base: str) -> str:
    """A fresh name `{base}-{token}-{pid}@{host}` owned by this process."""
    return f"{base}-{uuid.uuid4().hex[:8]}-{os.getpid()}@{_host()}"


def temporary_name(fingerprint: str) -> str:
    """A fresh temporary sibling name owned by this process."""
    return owned_name(f"{TEMP_PREFIX}{fingerprint}")


def _owner(name: str) -> tuple[int, str] | None:
    """(pid, host) of an owned name, None for a name without an owner."""
    match = _OWNED.match(name)
    return None if match is None else (int(match["pid"]), match["host"])


def owned_by_dead_process(name: str, unowned_dead: bool = True) -> bool:
    """True if the owner of `name` is known to be gone: a process of this host that no longer
    exists, or no owner in the name (written before owners were recorded; `unowned_dead`
    False: never judged dead, for folders such as the system's temporary one that other
    programs share). A name owned on another host is never judged dead: we cannot see its
    processes."""
    owner = _owner(name)
    if owner is None:
        return unowned_dead
    pid, host = owner
    return host == _host() and not pid_alive(pid)


def owned_by_this_process(name: str) -> bool:
    """True if `name` was made by owned_name in this process."""
    return _owner(name) == (os.getpid(), _host())


def owner_is_dead(name: str, fingerprint: str | None = None) -> bool:
    """True if `name` is a temporary (of `fingerprint`, when given) whose owner is known to be
    gone (owned_by_dead_process)."""
    prefix = f"{TEMP_PREFIX}{fingerprint}-" if fingerprint is not None else TEMP_PREFIX
    return name.startswith(prefix) and owned_by_dead_process(name)


def remove_dead_owned(parent: str, prefix: str = "", unowned_dead: bool = True) -> list[str]:
    """Removes the entries of `parent` starting with `prefix` whose owner is dead
    (owned_by_dead_process); returns their names. Live processes' entries are left alone."""
    if not filesystem.exists(parent):
        return []
    removed = []
    for name in filesystem.listdir(parent):
        if name.startswith(prefix) and owned_by_dead_process(name, unowned_dead):
            filesystem.rmtree(filesystem.join(parent, name))
            removed.append(name)
    return removed


def remove_dead_temporaries(parent: str, fingerprint: str | None = None) -> list[str]:
    """Removes the temporaries in `parent` whose owner is dead, of every fingerprint (only of
    `fingerprint`, when given: a killed run's config may never run again); returns their names.
    Live runs' temporaries are left alone."""
    prefix = f"{TEMP_PREFIX}{fingerprint}-" if fingerprint is not None else TEMP_PREFIX
    return remove_dead_owned(parent, prefix)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: run id, process id, host."""

    run_id: str
    pid: int
    host: str

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid}, host {self.host})"


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return Holder(str(data.get("run_id")), int(data.get("pid", 0)), str(data.get("host")))


def _open_node_lock(root: str, node_id: str, fingerprint: str) -> int:
    """A new file descriptor on `{root}/_locks/{node_id}-{fingerprint}.lock` (a local root)."""
    directory = os.path.join(root.removeprefix("file://"), LOCKS_DIR)
    os.makedirs(directory, exist_ok=True)
    return os.open(os.path.join(directory, f"{node_id}-{fingerprint}.lock"), os.O_RDWR | os.O_CREAT)


def try_node_lock(root: str, node_id: str, fingerprint: str) -> int | None:
    """The lock node_lock takes for (node_id, fingerprint) on a local root, without waiting:
    its file descriptor (close it to release), or None while another holder has it."""
    import fcntl

    fd = _open_node_lock(root, node_id, fingerprint)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def node_lock(
    root: str,
    node_id: str,
    fingerprint: str,
    run_id: str,
    on_wait: Callable[[Holder | None], None] = lambda _holder: None,
) -> Iterator[None]:
    """Holds the lock of one execution (node + fingerprint) of a local root; calls
    `on_wait(holder)` once if another process holds it, then waits. On remote roots it does
    nothing (the root lease serialises whole runs there)."""
    if filesystem.is_remote(root):
        yield
        return
    import fcntl

    fd = _open_node_lock(root, node_id, fingerprint)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(_read_holder(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
        me = json.dumps({"run_id": run_id, "pid": os.getpid(), "host": _host()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, me, 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
