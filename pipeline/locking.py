"""Several runs on one pipeline root: who owns a temporary, who may execute a node.

- Temporaries carry their owner: `.tmp-{fingerprint}-{owner}`, and so do scratch directories,
  `_tmp/{run}-{node}-{owner}`, where `{owner}` is `{token}-{pid}@{host}~{pidns}` (`{pidns}`:
  the inode of the process's PID namespace, which tells apart containers that share a
  hostname, e.g. with `--network host`, but not their PIDs). A run removes, whatever their
  fingerprint or run, those whose owner is dead (same host and PID namespace, process gone),
  never one a live process is writing. A name whose owner cannot be checked from here (no
  owner: an older naming; an owner without `~{pidns}`: the naming before it; another PID
  namespace under this hostname) may belong to a live process: it is removed only once
  nothing in it was modified for UNCHECKABLE_AGE, so a rolling upgrade of workers sharing a
  root never removes what a run of the older version is writing. Names of other hosts are
  never removed (their processes cannot be seen); hosts sharing a root need distinct names.
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
- Processes recorded in the metadata database (the owner of a RUNNING run or execution, of a
  root lease) are recorded as a ProcessOwner: host, pid, PID namespace and start time, and
  judged by check_process: dead only when the same process is verifiably gone from this host
  and PID namespace (pid gone, or reused by a process that started at another time or boot).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from seqline.pipeline.errors import SeqlineError
from seqline.storage import filesystem

TEMP_PREFIX = ".tmp-"
LOCKS_DIR = "_locks"
# How long nothing in an entry whose owner cannot be checked from here (OwnerCheck.UNCHECKABLE)
# must have been modified before it counts as dead.
UNCHECKABLE_AGE = 24 * 3600.0
# `{base}-{8 hex}-{pid}@{host}~{pid namespace}`: a name that carries its owner (temporaries,
# scratch folders).
_OWNED = re.compile(
    r"^(?P<base>.+)-(?P<token>[0-9a-f]{8})-(?P<pid>[0-9]+)@(?P<host>[^@/~]+)~(?P<pidns>[0-9]+)$"
)
# The same before the PID namespace was recorded: `{base}-{8 hex}-{pid}@{host}`.
_OWNED_WITHOUT_PIDNS = re.compile(
    r"^(?P<base>.+)-(?P<token>[0-9a-f]{8})-(?P<pid>[0-9]+)@(?P<host>[^@/]+)$"
)


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


def _host_tag() -> str:
    """This host's name as owner names carry it (characters a path cannot hold replaced)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", _host()) or "_"


@functools.cache
def _pid_namespace() -> str:
    """The inode of this process's PID namespace (Linux: /proc/self/ns/pid reads
    `pid:[4026531836]`; a container has its own unless it shares the host's), "0" where
    there is none to read."""
    try:
        link = os.readlink("/proc/self/ns/pid")
    except OSError:
        return "0"
    match = re.fullmatch(r"pid:\[([0-9]+)\]", link)
    return match[1] if match else "0"


def owned_name(base: str) -> str:
    """A fresh name `{base}-{token}-{pid}@{host}~{pidns}` owned by this process."""
    return f"{base}-{uuid.uuid4().hex[:8]}-{os.getpid()}@{_host_tag()}~{_pid_namespace()}"


def temporary_name(fingerprint: str) -> str:
    """A fresh temporary sibling name owned by this process."""
    return owned_name(f"{TEMP_PREFIX}{fingerprint}")


@dataclass(frozen=True)
class _Owner:
    pid: int
    host: str
    pidns: str | None  # None: named before the PID namespace was recorded


def _owner(name: str) -> _Owner | None:
    """The owner of an owned name, None for a name without one."""
    match = _OWNED.match(name)
    if match is not None:
        return _Owner(int(match["pid"]), match["host"], match["pidns"])
    match = _OWNED_WITHOUT_PIDNS.match(name)
    return None if match is None else _Owner(int(match["pid"]), match["host"], None)


class OwnerCheck(enum.Enum):
    """What can be told from here about the owner of a name (owner_check)."""

    DEAD = "dead"  # a process of this host and PID namespace that no longer exists
    KEEP = "keep"  # a live process of this host and PID namespace, or one of another host
    UNCHECKABLE = "uncheckable"  # may be alive: no owner, no PID namespace, or another one


def owner_check(name: str) -> OwnerCheck:
    """DEAD if the owner of `name` is known to be gone; KEEP if it is alive or owned on another
    host (we cannot see its processes); UNCHECKABLE if its pid means nothing here: no owner in
    the name (written before owners were recorded), an owner recorded before PID namespaces
    were, or another PID namespace under this hostname (a container sharing the host's
    network, or one restarted since)."""
    owner = _owner(name)
    if owner is None:
        return OwnerCheck.UNCHECKABLE
    if not _this_host(owner.host):
        return OwnerCheck.KEEP
    if owner.pidns is None:
        return OwnerCheck.UNCHECKABLE
    return check_process(ProcessOwner(owner.host, owner.pid, owner.pidns))


def _this_host(host: str | None) -> bool:
    """True if `host` names this host, as recorded (socket.gethostname()) or as owned names
    carry it (_host_tag)."""
    return host in (_host_tag(), _host())


@functools.cache
def _boot_id() -> str | None:
    """This boot's id (Linux: /proc/sys/kernel/random/boot_id), None where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            return file.read().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When process `pid` (of this PID namespace) started, as `{boot id}/{clock ticks since
    boot}` (Linux: field 22 of /proc/{pid}/stat), which tells a process apart from a later one
    that reuses its pid, in this boot or after a reboot. None where it cannot be read (no
    /proc, no such process, /proc mounted with hidepid)."""
    boot = _boot_id()
    if boot is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except OSError:
        return None
    # `pid (comm) state ppid ...`: comm may hold spaces and parentheses; field 3 follows the
    # last ")", so field 22 is the 20th after it.
    fields = stat.rpartition(")")[2].split()
    return f"{boot}/{fields[19]}" if len(fields) > 19 else None


@dataclass(frozen=True)
class ProcessOwner:
    """A process as the metadata store records the owner of a run, execution or root lease.

    `pidns`: the inode of its PID namespace (_pid_namespace); `start`: process_start. Both
    None in rows written before they were recorded, and where they cannot be read (not
    Linux)."""

    host: str | None
    pid: int | None
    pidns: str | None = None
    start: str | None = None

    @classmethod
    def this_process(cls) -> ProcessOwner:
        """The calling process, as start_run, start_execution and acquire_root record it."""
        pidns = _pid_namespace()
        return cls(
            _host(), os.getpid(), None if pidns == "0" else pidns, process_start(os.getpid())
        )


def check_process(owner: ProcessOwner) -> OwnerCheck:
    """What can be told from here about a recorded process: DEAD only if it is of this host
    and PID namespace and its pid is gone or now belongs to a process that started at another
    time (or boot) than the recorded one; KEEP (alive) if its pid is alive and the start time
    matches or was not recorded; UNCHECKABLE for another host or another PID namespace under
    this hostname (a container sharing the host's network, or this container restarted: its
    pids mean nothing here).

    A record without a PID namespace (written before it was recorded, or on a system without
    one) is judged as it was before: by host and pid alone, DEAD on this host when the pid is
    gone, so opening an older store with a newer version changes nothing about its rows."""
    if not _this_host(owner.host) or owner.pid is None:
        return OwnerCheck.UNCHECKABLE
    if owner.pidns is None:
        return OwnerCheck.KEEP if pid_alive(owner.pid) else OwnerCheck.DEAD
    if owner.pidns != _pid_namespace():
        return OwnerCheck.UNCHECKABLE
    if not pid_alive(owner.pid):
        return OwnerCheck.DEAD
    if owner.start is None:
        return OwnerCheck.KEEP
    now = process_start(owner.pid)
    if now is None:  # alive but unreadable (hidepid): it may be the same process
        return OwnerCheck.KEEP
    return OwnerCheck.KEEP if now == owner.start else OwnerCheck.DEAD


def owned_by_this_process(name: str) -> bool:
    """True if `name` was made by owned_name in this process."""
    return _owner(name) == _Owner(os.getpid(), _host_tag(), _pid_namespace())


def untouched_for(path: str, seconds: float) -> bool:
    """True if nothing in the local folder or file `path`, itself included, was modified in the
    last `seconds`. False on remote roots (no modification times to read there) and when
    `path` cannot be read."""
    if filesystem.is_remote(path):
        return False
    local = path.removeprefix("file://")
    cutoff = time.time() - seconds
    try:
        if os.lstat(local).st_mtime > cutoff:
            return False
        for folder, dirs, files in os.walk(local):
            for entry in (*dirs, *files):
                if os.lstat(os.path.join(folder, entry)).st_mtime > cutoff:
                    return False
    except OSError:
        return False
    return True


def remove_dead_owned(parent: str, prefix: str = "", unowned_dead: bool = True) -> list[str]:
    """Removes the entries of `parent` starting with `prefix` whose owner is dead
    (owner_check), and those whose owner cannot be checked once nothing in them was modified
    for UNCHECKABLE_AGE (an entry without an owner in its name only when `unowned_dead`: False
    for folders such as the system's temporary one that other programs share); returns their
    names. Live processes' entries are left alone."""
    if not filesystem.exists(parent):
        return []
    removed = []
    for name in filesystem.listdir(parent):
        if not name.startswith(prefix):
            continue
        check, path = owner_check(name), filesystem.join(parent, name)
        if check is OwnerCheck.UNCHECKABLE and (unowned_dead or _owner(name) is not None):
            dead = untouched_for(path, UNCHECKABLE_AGE)
        else:
            dead = check is OwnerCheck.DEAD
        if dead:
            filesystem.rmtree(path)
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


def try_exclusive(fd: int) -> int | None:
    """`fd` holding an exclusive flock taken without waiting, or None (and `fd` closed) while
    another holder has the file locked."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def try_node_lock(root: str, node_id: str, fingerprint: str) -> int | None:
    """The lock node_lock takes for (node_id, fingerprint) on a local root, without waiting:
    its file descriptor (close it to release), or None while another holder has it."""
    return try_exclusive(_open_node_lock(root, node_id, fingerprint))


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
