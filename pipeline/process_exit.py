"""Ending the `seqline` process without the interpreter's teardown.

Once a command has returned, a normal exit tears the interpreter down: it clears every module
and destroys what TensorFlow, Beam and TFT built, which took ~1.4 s after a pipeline run on a
2-core machine and does nothing a finished command needs. Issue 13 counts that in every
from-scratch run and in every orchestrated task (`seqline run --node`).

`leave(code)` does, in a normal exit's order, what can matter to the user, then ends the
process with os._exit:
  1. threading's shutdown: its exit callbacks (concurrent.futures executors finish the work
     queued on them) and joining every non-daemon thread still running;
  2. the atexit handlers (logging flushes and closes its handlers, weakref finalizers such as
     TemporaryDirectory's clean-up, multiprocessing's);
  3. Python file objects still open for writing that the program never closed: closed, the
     outermost first (text wrappers, then compressing writers such as gzip's, then buffers,
     then raw files), as the teardown would when it frees them; stdout and stderr are flushed.
     A flush of stdout or stderr that fails makes the exit status 120, as in a normal exit.
Writers that are not Python file objects (tf.io.gfile.GFile, TFRecordWriter, C libraries'
own buffers) are complete only if the code that opened them closed them; seqline's
components always do. SEQLINE_FAST_EXIT=0, or an interpreter without the hooks used here,
exits normally.
"""

from __future__ import annotations

import _io
import atexit
import contextlib
import gc
import io
import os
import sys
import threading
from typing import NoReturn

# Neither atexit nor threading has a public call that runs its exit work now; CPython 3.7+
# has both of these.
_run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
_threading_shutdown = getattr(threading, "_shutdown", None)


def fast_exit_allowed() -> bool:
    """True unless SEQLINE_FAST_EXIT=0 or the interpreter lacks the hooks leave() calls."""
    if os.environ.get("SEQLINE_FAST_EXIT", "1").strip() == "0":
        return False
    return _run_exitfuncs is not None and _threading_shutdown is not None


def leave(code: int) -> NoReturn:
    """Ends the process with exit status `code` (0-255) after the clean-up in the module
    docstring. Falls back to sys.exit(code) when a fast exit is not allowed. Call it from the
    main thread, as the last thing the program does."""
    if not fast_exit_allowed():
        sys.exit(code)
    assert _threading_shutdown is not None and _run_exitfuncs is not None
    _threading_shutdown()
    _run_exitfuncs()
    _close_open_files()
    delivered = _flushed(sys.stdout) & _flushed(sys.stderr)  # both flushed, whatever happens
    os._exit(code if delivered else 120)


# The C base class under io.IOBase: every file class of io, gzip, bz2 and lzma derives from it.
# isinstance against the ABC io.IOBase walks all of its registered subclasses for each new
# type on the heap (~0.5 s after a pipeline run); against this plain type it reads the MRO.
_CONCRETE_IO_BASE: type[io.IOBase] = getattr(_io, "_IOBase", io.IOBase)


def _close_open_files() -> None:
    """Closes every Python file object open for writing on the heap but the standard
    streams, wrappers before what they wrap; errors are ignored, as in the teardown."""
    standard = {id(layer) for stream in _standard_streams() for layer in _layers_of(stream)}
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, _CONCRETE_IO_BASE) and id(obj) not in standard:
            try:
                if not obj.closed and obj.writable() and not _on_standard_descriptor(obj):
                    found.append(obj)
            except (OSError, ValueError):  # detached or already broken
                continue
    found.sort(key=_layer)
    for stream in found:
        with contextlib.suppress(OSError, ValueError):
            stream.close()


def _standard_streams() -> tuple[object, ...]:  # read at call time: a program may swap them
    return (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def _layers_of(stream: object) -> list[object]:
    """`stream`, the buffer below it and the raw file below that (what closing it would close)."""
    layers: list[object] = []
    while stream is not None and len(layers) < 4:
        layers.append(stream)
        stream = getattr(stream, "buffer", None) or getattr(stream, "raw", None)
    return layers


def _on_standard_descriptor(stream: io.IOBase) -> bool:
    """True for a file object on descriptor 0, 1 or 2, which the process must keep open."""
    try:
        return stream.fileno() <= 2
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor (gzip, BytesIO...)
        return False


def _layer(stream: io.IOBase) -> int:
    """0 for text wrappers, 1 for other wrappers (gzip, bz2, lzma), 2 for buffers, 3 for
    raw files: the order in which closing flushes each layer into the next."""
    if isinstance(stream, io.TextIOBase):
        return 0
    if isinstance(stream, io.BufferedWriter | io.BufferedRandom | io.BufferedRWPair):
        return 2
    if isinstance(stream, io.RawIOBase):
        return 3
    return 1


def _flushed(stream: object) -> bool:
    """False when flushing `stream` (stdout or stderr) raised; a missing or closed stream has
    nothing to deliver."""
    try:
        if stream is not None and not stream.closed:  # type: ignore[attr-defined]
            stream.flush()  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False
    return True
