"""The model server in a child process: `python -m seqline.serving.cli serve ...`.

A separate process, not a thread: a model that crashes or hangs TensorFlow on load takes down
the child, not the pipeline, and the candidate is loaded exactly as a serving host loads it
(fresh interpreter, only the files of the version directory). gRPC binds 127.0.0.1 on a port
the kernel picks (`--port=0`, no race between choosing and binding); the child prints it, and
its output goes to a log file that infra_validate keeps beside the result.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

_READY_LINE = re.compile(r"gRPC at (\S+):(\d+)")


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
    `.tmp-*` directories, so publish a version by renaming a finished copy).
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
        *extra_flags,
    ]
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 — closed by ServerProcess.stop
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
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
    directory (safe to call twice, and after the server was stopped)."""

    server: ServerProcess
    work_dir: str
    base_path: str
    launched: float  # time.monotonic() when the child was started

    @property
    def alive(self) -> bool:
        return self.server.process.poll() is None

    def close(self) -> None:
        self.server.stop(grace=0.0)
        shutil.rmtree(self.work_dir, ignore_errors=True)


def launch_spare_server(model_name: str, *, extra_flags: tuple[str, ...] = ()) -> SpareServer:
    """launch_server_process on a fresh, empty local base path (a temporary directory)."""
    launched = time.monotonic()
    work_dir = tempfile.mkdtemp(prefix="seqline-infra-validate-")
    base = os.path.join(work_dir, "serving", model_name)
    os.makedirs(base)
    log_path = os.path.join(work_dir, "server.log")
    server = launch_server_process(model_name, base, log_path, extra_flags=extra_flags)
    return SpareServer(server=server, work_dir=work_dir, base_path=base, launched=launched)
