"""leave(): the console script's exit without interpreter teardown keeps what a normal exit
does that users can see (exit status, atexit handlers, temp-dir clean-up, bytes buffered in
files never closed, stdout), and falls back to a normal exit when a non-daemon thread is
still working."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


LEAVE_AFTER_WORK = """
    import atexit, logging, os, sys, tempfile
    from seqline.pipeline.process_exit import leave

    root = sys.argv[1]
    kept = tempfile.TemporaryDirectory(dir=root)            # removed by its weakref finalizer
    open(os.path.join(root, "where"), "w").write(kept.name)
    kept_open = open(os.path.join(root, "global.txt"), "w")  # never closed by the program
    kept_open.write("every byte")
    import gzip
    compressed = gzip.open(os.path.join(root, "never-closed.gz"), "wt")  # trailer on close
    compressed.write("compressed line")
    leaked = open(os.path.join(root, "cycle.txt"), "wb")
    leaked.write(b"every byte")
    cycle = [leaked]
    cycle.append(cycle)                                     # garbage, not yet collected
    del leaked, cycle
    handler = logging.FileHandler(os.path.join(root, "log.txt"), delay=False)
    logging.getLogger("t").addHandler(handler)
    logging.getLogger("t").warning("logged")
    atexit.register(lambda: print("atexit ran"))
    sys.stdout.write("unflushed stdout")
    leave(3)
    print("not reached")
"""


def test_leave_keeps_exit_status_handlers_clean_up_and_buffered_writes(tmp_path):
    out = _run(LEAVE_AFTER_WORK, tmp_path)
    assert out.returncode == 3, out.stderr
    assert "unflushed stdout" in out.stdout and "atexit ran" in out.stdout
    assert "not reached" not in out.stdout
    assert (tmp_path / "global.txt").read_text() == "every byte"
    assert (tmp_path / "cycle.txt").read_text() == "every byte"
    import gzip

    assert gzip.decompress((tmp_path / "never-closed.gz").read_bytes()) == b"compressed line"
    assert "logged" in (tmp_path / "log.txt").read_text()
    assert not (tmp_path / (tmp_path / "where").read_text()).exists()


def test_leave_skips_the_interpreter_teardown(tmp_path):
    # An object whose destructor runs only when the interpreter tears modules down: a normal
    # exit (SEQLINE_FAST_EXIT=0) runs it, leave() ends the process before it.
    code = """
        import os, sys
        from seqline.pipeline.process_exit import leave

        class Marker:
            # Bound now: the teardown may have cleared the module's globals by then.
            def __del__(self, open=open, path=os.path.join(sys.argv[1], "torn-down")):
                open(path, "w").close()

        sys.modules["__main__"].marker = Marker()  # reachable to the end
        leave(0)
    """
    fast = _run(code, tmp_path)
    assert fast.returncode == 0, fast.stderr
    assert not (tmp_path / "torn-down").exists()
    normal = _run(code, tmp_path, SEQLINE_FAST_EXIT="0")
    assert normal.returncode == 0, normal.stderr
    assert (tmp_path / "torn-down").exists()


def test_leave_waits_for_a_working_non_daemon_thread(tmp_path):
    code = """
        import os, sys, threading
        from seqline.pipeline.process_exit import leave

        go = threading.Event()
        def work():
            go.wait()
            open(os.path.join(sys.argv[1], "finished"), "w").close()
        threading.Thread(target=work).start()  # non-daemon: a normal exit joins it
        threading.Timer(0.2, go.set).start()
        leave(4)
    """
    out = _run(code, tmp_path)
    assert out.returncode == 4, out.stderr
    assert (tmp_path / "finished").exists()


def test_leave_lets_an_executor_finish_work_queued_from_a_daemon_thread(tmp_path):
    # Pipeline nodes run in daemon threads with max_parallel > 1; an executor made there has
    # daemon workers, and only threading's exit callbacks make it finish its queue.
    code = """
        import os, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        from seqline.pipeline.process_exit import leave

        def node():
            pool = ThreadPoolExecutor(1)
            def work(i):
                time.sleep(0.05)
                open(os.path.join(sys.argv[1], f"done-{i}"), "w").close()
            for i in range(3):
                pool.submit(work, i)
        t = threading.Thread(target=node, daemon=True)
        t.start()
        t.join()
        leave(0)
    """
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done-0", "done-1", "done-2"]


def test_leave_reports_output_it_could_not_deliver_as_status_120(tmp_path):
    # stdout is a pipe whose reader is gone: the buffered line cannot be written. A normal
    # exit reports that with status 120; so must leave(), rather than the command's 0.
    code = """
        import os, sys
        from seqline.pipeline.process_exit import leave

        read, write = os.pipe()
        os.close(read)
        sys.stdout = os.fdopen(write, "w")
        print("lost")
        leave(0)
    """
    assert _run(code, tmp_path).returncode == 120
    assert _run(code, tmp_path, SEQLINE_FAST_EXIT="0").returncode == 120


def test_console_script_leaves_with_mains_status(monkeypatch):
    from seqline.pipeline import cli, process_exit

    left = []
    monkeypatch.setattr(cli, "main", lambda: 7)
    monkeypatch.setattr(process_exit, "leave", left.append)
    cli.entry()
    assert left == [7]
