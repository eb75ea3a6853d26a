"""ServerProcess.stop: a graceful stop (SIGTERM, then SIGKILL after the grace) and the
immediate one infra_validate uses once its checks have their answers."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from seqline.components.infra_validate.server_process import ServerProcess

# A child that records SIGTERM in a file and exits 0, and says when its handler is in place.
CHILD = """
import signal, sys, time
def on_term(*_):
    open(sys.argv[1], "w").write("drained")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(120)
"""


def _child(tmp_path: Path) -> tuple[ServerProcess, Path]:
    marker = tmp_path / "term.txt"
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return ServerProcess(process, str(tmp_path / "server.log")), marker


def test_graceful_stop_lets_the_server_drain(tmp_path: Path) -> None:
    server, marker = _child(tmp_path)
    assert server.stop(grace=30.0) == 0
    assert marker.read_text() == "drained"


def test_leaving_the_block_kills_at_once_without_a_drain(tmp_path: Path) -> None:
    server, marker = _child(tmp_path)
    with server:
        pass
    assert server.process.returncode == -signal.SIGKILL
    assert not marker.exists()
    assert server.stop() == -signal.SIGKILL  # stopping a stopped server is a no-op
