"""infra_validate's server child dies with the pipeline process, however that ends: a killed
`seqline run` left `seqline serve` running forever (~650 MB). Both mechanisms are tested on
their own: the kernel's parent-death signal the child asks for (Linux, `--parent_pid`) and the
child watching its stdin pipe."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqline.components.infra_validate import server_process
from seqline.pipeline.locking import owned_name
from seqline.serving import cli as serving_cli

REPO = Path(__file__).resolve().parents[3]

# Starts CHILD (given this process's pid) through start_tied_child from a thread that ends at
# once (as a node's thread does), waits for the child's "ready" line, prints the child's pid,
# then waits to be killed.
PARENT = """
import os, subprocess, sys, threading, time
from seqline.components.infra_validate.server_process import start_tied_child

child_code, pdeathsig = sys.argv[1], sys.argv[2] == "1"
started = []
thread = threading.Thread(target=lambda: started.append(start_tied_child(
    [sys.executable, "-c", child_code, str(os.getpid())], pdeathsig=pdeathsig,
    stdout=subprocess.PIPE, text=True)))
thread.start()
thread.join()
assert started[0].stdout.readline() == "ready\\n"
print(started[0].pid, flush=True)
time.sleep(120)
"""
# A child that never reads its stdin (a hung server, say) but asks for the kernel's signal as
# `seqline serve --parent_pid` does.
DIES_WITH_PARENT = (
    "import sys, time; from seqline.serving.cli import die_with_parent; "
    "die_with_parent(int(sys.argv[1])); print('ready', flush=True); time.sleep(120)"
)
STDIN_WATCHER = (
    "import time; from seqline.serving.cli import exit_when_stdin_closes; "
    "exit_when_stdin_closes(); print('ready', flush=True); time.sleep(120)"
)


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def _kill_parent_and_check_child(child_code: str, pdeathsig: bool) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, child_code, "1" if pdeathsig else "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = None
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        # The thread that started it has ended: the child must still be serving.
        with pytest.raises(subprocess.TimeoutExpired):
            parent.wait(timeout=1.0)
        assert not _gone(child), "the child died with the thread that started it"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        assert _wait_gone(child, 30), "the child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_kernel_kills_the_child_when_its_parent_is_killed():
    """A child that does not watch its stdin (a hung server, say) still dies: the kernel's
    parent-death signal it asked for, tied to a launcher thread that lives as long as the
    process."""
    _kill_parent_and_check_child(DIES_WITH_PARENT, pdeathsig=True)


def _dead_pid() -> int:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    return exited.pid


def test_a_server_whose_parent_is_already_gone_exits_at_once(tmp_path):
    """The parent can end between starting the child and the child's request to the kernel,
    which then never fires: `seqline serve --parent_pid` checks and exits, before importing
    TensorFlow."""
    gone = _dead_pid()
    serve = subprocess.run(
        [sys.executable, "-m", "seqline.serving.cli", "serve", "--model_name=m",
         f"--model_base_path={tmp_path}", "--port=0", f"--parent_pid={gone}"],
        cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert serve.returncode == 0
    assert f"the parent process {gone} has ended; exiting" in serve.stderr
    assert "gRPC at" not in serve.stdout


def test_children_are_started_without_code_between_fork_and_exec(monkeypatch):
    """A preexec_fn is unsafe in a process with TensorFlow's, gRPC's and Beam's threads and
    forces a fork() of the whole process; on Linux the child is still started from the
    long-lived launcher thread, to which the kernel ties its parent-death signal."""
    seen: dict = {}

    def popen(command, **kwargs):
        seen.update(kwargs=kwargs, thread=server_process.threading.current_thread().name)
        return object()

    monkeypatch.setattr(server_process.subprocess, "Popen", popen)
    server_process.start_tied_child(["true"])
    assert "preexec_fn" not in seen["kwargs"]
    assert seen["kwargs"]["stdin"] == subprocess.PIPE
    if sys.platform.startswith("linux"):
        assert seen["thread"] == "seqline-child-launcher"


def test_the_child_stops_when_its_stdin_pipe_closes():
    """The portable fallback: `seqline serve --stop_when_stdin_closes` reads its stdin and
    exits at end-of-file, which the kernel delivers when the parent dies."""
    _kill_parent_and_check_child(STDIN_WATCHER, pdeathsig=False)


def test_infra_validate_starts_its_server_tied_to_the_pipeline(tmp_path, monkeypatch):
    seen: dict = {}

    class Started:
        stdin = None
        returncode = 0

        def poll(self):
            return 0

    def fake(command, **kwargs):
        seen.update(command=command, kwargs=kwargs)
        return Started()

    monkeypatch.setattr(server_process, "start_tied_child", fake)
    server = server_process.launch_server_process("m", str(tmp_path), str(tmp_path / "log"))
    server.stop(grace=0)
    assert server_process.STOP_WITH_STDIN_FLAG in seen["command"]
    assert f"--parent_pid={os.getpid()}" in seen["command"]
    assert "stdin" not in seen["kwargs"]  # start_tied_child makes it the pipe

    # The server takes the flag (serving/ parses it without importing pipeline/).
    parser = argparse.ArgumentParser()
    serving_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["serve", "--model_name=m", f"--model_base_path={tmp_path}", "--stop_when_stdin_closes",
         "--parent_pid=42"]
    )  # fmt: skip
    assert args.stop_when_stdin_closes is True and args.parent_pid == 42


def test_stopping_the_server_closes_the_pipe(tmp_path):
    process = server_process.start_tied_child(
        [sys.executable, "-c", STDIN_WATCHER], cwd=REPO, stderr=subprocess.PIPE
    )
    server = server_process.ServerProcess(process, str(tmp_path / "server.log"))
    assert server.stop(grace=0) == -signal.SIGKILL
    assert process.stdin is not None and process.stdin.closed


# Opens a SpareServer whose child is a sleeper tied to it (DIES_WITH_PARENT), prints its folder
# and the child's pid, then either returns through seqline's fast exit without closing it
# ("exit") or waits ("wait").
SPARE = """
import os, subprocess, sys, time
from seqline.components.infra_validate import server_process as sp
from seqline.pipeline.process_exit import leave

def sleeper(name, base, log, extra_flags=()):
    command = [sys.executable, "-c", sys.argv[2], str(os.getpid())]
    return sp.ServerProcess(sp.start_tied_child(command, stdout=subprocess.DEVNULL), log)

sp.launch_server_process = sleeper
spare = sp.launch_spare_server("m")
print(spare.work_dir, spare.server.process.pid, flush=True)
if sys.argv[1] == "exit":
    leave(0)
time.sleep(120)
"""


def _spare(mode: str) -> tuple[subprocess.Popen, Path, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SPARE, mode, DIES_WITH_PARENT],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    work_dir, pid = proc.stdout.readline().split()
    return proc, Path(work_dir), int(pid)


def test_a_spare_left_open_is_closed_when_the_process_exits():
    """A run interrupted while infra_validate ran in its thread never closed its spare: the
    folder (a copy of the model, the server's log) stayed in /tmp."""
    proc, work_dir, child = _spare("exit")
    assert proc.wait(timeout=60) == 0
    assert not work_dir.exists()
    assert _wait_gone(child, 30)


def test_the_folder_of_a_killed_process_is_removed_by_the_next_launch(tmp_path, monkeypatch):
    proc, work_dir, child = _spare("wait")
    assert work_dir.name.startswith(f"{server_process.WORK_DIR_PREFIX}-")
    here = owned_name("x").rsplit("@", 1)[1]  # {host}~{pid namespace}
    assert work_dir.name.endswith(f"-{proc.pid}@{here}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert work_dir.exists() and _wait_gone(child, 30)
    unowned = Path(server_process.tempfile.gettempdir()) / f"{server_process.WORK_DIR_PREFIX}-x1"
    unowned.mkdir(exist_ok=True)  # another program's, or an older seqline's: left alone
    try:
        fresh = server_process._new_work_dir()
        os.rmdir(fresh)
        assert not work_dir.exists() and unowned.exists()
    finally:
        unowned.rmdir()
