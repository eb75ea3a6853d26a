"""The model server in a child process: `python -m seqline.serving.cli serve ...`.

A separate process, not a thread: a model that crashes or hangs TensorFlow on load takes down
the child, not the pipeline, and the candidate is loaded exactly as a serving host loads it
(fresh interpreter, only the files of the version directory). gRPC binds 127.0.0.1 on a port
the kernel picks (`--port=0`, no race between choosing and binding); the child prints it, and
its output goes to a log file that infra_validate keeps beside the result.

The child dies with the pipeline process, however that ends (kill -9 included): it held
~650 MB forever after a killed run. Two mechanisms, either one enough (start_tied_child), and
serving/ knows nothing of pipeline/ for either:
  - Linux: `seqline serve --parent_pid=PID` asks the kernel at its start-up to send it SIGKILL
    when its parent ends (PR_SET_PDEATHSIG), and exits if the parent is already gone. The
    kernel's "parent" is the *thread* that forked it, and nodes run in threads that end when
    their node does (infra_validate's prestart runs in train's), so children are forked by one
    launcher thread that lives as long as the process. The request is the child's, not a
    preexec_fn of ours: code between fork and exec is unsafe in a process with TensorFlow's,
    gRPC's and Beam's threads, and a preexec_fn makes subprocess fork() this multi-GB process
    instead of using vfork;
  - everywhere: the child's standard input is a pipe whose other end only this process holds,
    and `seqline serve --stop_when_stdin_closes` exits when it reads end-of-file, which the
    kernel delivers when the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.locking import owned_name, remove_dead_owned

_READY_LINE = re.compile(r"gRPC at (\S+):(\d+)")
# SpareServer folders in the system's temporary folder: `{prefix}-{owner}` (pipeline/locking.py).
WORK_DIR_PREFIX = "seqline-infra-validate"
# seqline serve's flags: exit when standard input reaches end-of-file (its parent ended), and
# die with the parent process of this pid (PR_SET_PDEATHSIG on Linux).
STOP_WITH_STDIN_FLAG = "--stop_when_stdin_closes"
PARENT_PID_FLAG = "--parent_pid"


class _Launcher:
    """Starts children from one daemon thread that lives as long as the process, so that the
    PR_SET_PDEATHSIG a child asks for fires when the process ends, not when the node thread
    that wanted the child ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[Sequence[str], dict[str, Any], Future[Any]]]
        self._requests = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def popen(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="seqline-child-launcher", daemon=True
                )
                self._thread.start()
        started: Future[subprocess.Popen] = Future()
        self._requests.put((command, kwargs, started))
        return started.result()

    def _serve(self) -> None:
        while True:
            command, kwargs, started = self._requests.get()
            try:
                started.set_result(subprocess.Popen(command, **kwargs))
            except BaseException as exc:  # handed to the caller
                started.set_exception(exc)


_LAUNCHER = _Launcher()


def start_tied_child(
    command: Sequence[str], *, pdeathsig: bool = True, **popen_kwargs: Any
) -> subprocess.Popen:
    """subprocess.Popen(command, **popen_kwargs) for a child that must not outlive this
    process: its stdin is a pipe only this process holds (a child that stops at end-of-file
    ends with us), and on Linux (unless `pdeathsig` is False) it is started from the launcher
    thread, so that a child asking for PR_SET_PDEATHSIG (`seqline serve --parent_pid`, given
    os.getpid()) is killed when this process ends. The caller keeps `process.stdin` open
    while the child should run. Nothing runs between fork and exec (no preexec_fn)."""
    popen_kwargs = {**popen_kwargs, "stdin": subprocess.PIPE}
    if not (pdeathsig and sys.platform.startswith("linux")):
        return subprocess.Popen(command, **popen_kwargs)
    return _LAUNCHER.popen(command, **popen_kwargs)


class ServerStartFailed(RuntimeError):
    """The child exited or printed no address in time; the message ends with its log tail."""


@dataclass
class ServerProcess:
    """A running child server. Use as a context manager; `target` is "127.0.0.1:port"."""

    process: subprocess.Popen
    log_path: str
    target: str = ""
    _log: object = field(default=None, repr=False)

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM (the server drains and unloads), then SIGKILL after `grace` seconds;
        `grace` 0 sends SIGKILL at once."""
        if self.process.poll() is None and grace > 0:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None:  # the pipe that ties it to us (start_tied_child)
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None
        return int(self.process.returncode)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:]).strip()
        except OSError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        # When the block ends every check has its answer and nobody else uses this server, so
        # there is nothing to drain: a graceful stop (SIGTERM, unload, interpreter exit) took
        # ~1.1 s of infra_validate's wall, the run's tail, for no verdict.
        self.stop(grace=0.0)


def launch_server_process(
    model_name: str,
    model_base_path: str,
    log_path: str,
    *,
    extra_flags: tuple[str, ...] = (),
) -> ServerProcess:
    """Starts the server child and returns at once (no address yet: call wait_for_address).

    The child spends its first seconds importing TensorFlow and gRPC; a caller that launches it
    before preparing the model overlaps that start-up with its own work. `model_base_path` may
    still be empty: the child serves whatever version directory appears there (it skips
    `.tmp-*` directories, so publish a version by renaming a finished copy). The child dies
    with this process however it ends (start_tied_child).
    """
    command = [
        sys.executable,
        "-m",
        "seqline.serving.cli",
        "serve",
        f"--model_name={model_name}",
        f"--model_base_path={model_base_path}",
        "--port=0",
        "--grpc_bind_address=127.0.0.1",
        "--rest_api_port=0",
        # Load as tensorflow_model_server does (a Session) with no fallback, so a model that
        # server could not run is not blessed.
        "--tensorflow_runtime=session_strict",
        # Exit when this process ends, even by kill -9: the kernel's SIGKILL on Linux (the child
        # asks for it), end-of-file on the pipe start_tied_child holds everywhere.
        f"{PARENT_PID_FLAG}={os.getpid()}",
        STOP_WITH_STDIN_FLAG,
        *extra_flags,
    ]
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 — closed by ServerProcess.stop
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    try:
        process = start_tied_child(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    except BaseException:
        log.close()
        raise
    return ServerProcess(process=process, log_path=log_path, _log=log)


def wait_for_address(server: ServerProcess, timeout: float) -> ServerProcess:
    """Waits until the child prints its gRPC address and sets `server.target`.

    Raises:
        ServerStartFailed: the child exited or said nothing within `timeout` (it is stopped).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(server.log_path, encoding="utf-8", errors="replace") as f:
            match = _READY_LINE.search(f.read())
        if match:
            server.target = f"{match.group(1)}:{match.group(2)}"
            return server
        if server.process.poll() is not None:
            break
        time.sleep(0.05)
    code = server.process.poll()
    server.stop()
    state = f"exited with code {code}" if code is not None else f"silent for {timeout:g} s"
    raise ServerStartFailed(f"model server {state}; its log ends with:\n{server.log_tail()}")


def start_server_process(
    model_name: str,
    model_base_path: str,
    log_path: str,
    *,
    timeout: float = 60.0,
    extra_flags: tuple[str, ...] = (),
) -> ServerProcess:
    """launch_server_process + wait_for_address: starts the child and waits until it prints its
    gRPC address (the model may still be loading; poll GetModelStatus for that).

    Raises:
        ServerStartFailed: the child exited or said nothing within `timeout` (it is stopped).
    """
    server = launch_server_process(model_name, model_base_path, log_path, extra_flags=extra_flags)
    return wait_for_address(server, timeout)


@dataclass
class SpareServer:
    """A child server launched on an empty base path in a local directory of its own, before
    there is a model to serve (infra_validate's Component.prestart while train exports, or
    its own cold start just before the in-process checks). The user publishes a
    version into `base_path` and takes `server`; close() kills the child and removes the
    directory (safe to call twice, and after the server was stopped). A spare still open when
    the process exits (a run interrupted while infra_validate ran in its thread) is closed
    then; the directory of one whose process was killed is removed by the next launch."""

    server: ServerProcess
    work_dir: str
    base_path: str
    launched: float  # time.monotonic() when the child was started

    def __post_init__(self) -> None:
        atexit.register(self.close)

    @property
    def alive(self) -> bool:
        return self.server.process.poll() is None

    def close(self) -> None:
        atexit.unregister(self.close)
        self.server.stop(grace=0.0)
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _new_work_dir() -> str:
    """A fresh folder `{tmp}/seqline-infra-validate-{token}-{pid}@{host}~{pidns}`, after
    removing those of processes that are gone (killed runs; remove_dead_owned); folders
    without an owner in their name are left alone (the temporary folder is shared)."""
    parent = tempfile.gettempdir()
    remove_dead_owned(parent, f"{WORK_DIR_PREFIX}-", unowned_dead=False)
    path = os.path.join(parent, owned_name(WORK_DIR_PREFIX))
    os.mkdir(path, 0o700)
    return path


def launch_spare_server(model_name: str, *, extra_flags: tuple[str, ...] = ()) -> SpareServer:
    """launch_server_process on a fresh, empty local base path (a temporary directory)."""
    launched = time.monotonic()
    work_dir = _new_work_dir()
    base = os.path.join(work_dir, "serving", model_name)
    os.makedirs(base)
    log_path = os.path.join(work_dir, "server.log")
    try:
        server = launch_server_process(model_name, base, log_path, extra_flags=extra_flags)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return SpareServer(server=server, work_dir=work_dir, base_path=base, launched=launched)
