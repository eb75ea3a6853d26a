"""Ending the `seqline` process without the interpreter's teardown.

Once a command has returned, a normal exit tears the interpreter down: it clears every module
and destroys what TensorFlow, Beam and TFT built, which took ~1.4 s after a pipeline run on a
2-core machine (a gc pass ~0.3 s more) and does nothing a finished command needs. Issue 13
counts that in every from-scratch run and in every orchestrated task (`seqline run --node`).

`leave(code)` keeps what a normal exit does that can matter to the user, then ends the process
with os._exit: the atexit handlers (logging's flush and close of its handlers, weakref
finalizers such as TemporaryDirectory's clean-up), and the bytes still buffered in file
objects the program never closed (a normal exit writes those when it tears the modules down;
here every open writable file object on the heap is flushed, stdout and stderr last). It
exits normally instead when a non-daemon thread is still running (a normal exit waits for it)
or when SEQLINE_FAST_EXIT=0.
"""

from __future__ import annotations

import atexit
import gc
import io
import os
import sys
import threading
from typing import NoReturn

# atexit has no public call that runs the handlers now; every CPython 3 has this one.
_run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)


def fast_exit_allowed() -> bool:
    """True unless SEQLINE_FAST_EXIT=0, a non-daemon thread besides this one is alive, or
    atexit cannot run its handlers ahead of time."""
    if os.environ.get("SEQLINE_FAST_EXIT", "1").strip() == "0" or _run_exitfuncs is None:
        return False
    me = threading.current_thread()
    return not any(t is not me and not t.daemon and t.is_alive() for t in threading.enumerate())


def leave(code: int) -> NoReturn:
    """Ends the process with exit status `code` (0-255) after the clean-up above; see the
    module docstring. Falls back to sys.exit(code) when a fast exit is not allowed."""
    if not fast_exit_allowed():
        sys.exit(code)
    assert _run_exitfuncs is not None  # checked by fast_exit_allowed
    _run_exitfuncs()
    _flush_open_files()
    os._exit(code)


# What open() returns for writing. Concrete C types in a tuple: isinstance against them is
# ~10x faster than against io's abstract classes, over the ~0.5-0.7 million objects on the
# heap after a pipeline run (0.04 s rather than 0.45 s).
_WRITABLE_FILE_TYPES = (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom)


def _flush_open_files() -> None:
    """Flushes every open buffered or text file object on the heap (text wrappers first, so
    their bytes reach the buffer below them), then stdout and stderr."""
    found = [f for f in gc.get_objects() if isinstance(f, _WRITABLE_FILE_TYPES)]
    found.sort(key=lambda f: not isinstance(f, io.TextIOWrapper))
    for stream in [*found, sys.stdout, sys.stderr]:
        try:
            if stream is not None and not stream.closed and stream.writable():
                stream.flush()
        except (OSError, ValueError):  # a closed pipe, a detached or unwritable stream
            pass
