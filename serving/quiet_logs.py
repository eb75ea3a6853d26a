"""Quiet TensorFlow start-up on CPU-only machines, without hiding a real warning or error.

What a CPU-only run printed, and what silences each line (checked on TF 2.21, Linux x86-64):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    I... port.cc:153] oneDNN custom operations are on. You may see slightly different ...
    I... cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU ...
    E... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ... (303)

- cpu_feature_guard (and any later C++ INFO line): TF_CPP_MIN_LOG_LEVEL=1, which keeps
  warnings and errors. Set only when the user has not set it.
- absl's "before InitializeLog" preamble, cudart_stub and oneDNN's notice are logged by static
  initialisers while the shared libraries load, before TensorFlow reads TF_CPP_MIN_LOG_LEVEL:
  no environment variable silences them (even TF_CPP_MIN_LOG_LEVEL=3 keeps them), and absl's
  own level cannot be set from outside the process. TF_ENABLE_ONEDNN_OPTS=0 would remove the
  notice only by turning the oneDNN kernels off, which changes numerics: not done.
- The cuInit error is LOG(ERROR) when the CUDA platform initialises (first device listing):
  only TF_CPP_MIN_LOG_LEVEL=3 hides it, and that hides every real error too. CUDA_VISIBLE_DEVICES
  does not help (cuInit is still called and fails).

So besides TF_CPP_MIN_LOG_LEVEL=1, `quiet_tensorflow_logs` filters file descriptor 2 while
TensorFlow is imported and its devices are listed (a few seconds, once per process): exactly
the lines above are dropped, and every other byte goes through unchanged. The CUDA lines are
dropped only on a machine without the NVIDIA kernel driver (/proc/driver/nvidia/version), where
they can only mean "no GPU"; with a driver a cuInit failure is a real error and is shown.
SEQLINE_LOG_LEVEL=debug turns all of this off.

Call it first thing in a CLI, before anything imports TensorFlow. It lives in serving/ because
both CLIs call it and serving/ may not import pipeline/ (pipeline/ may import serving/); it
imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from types import ModuleType
from typing import Any

LOG_LEVEL_ENV = "SEQLINE_LOG_LEVEL"
NVIDIA_DRIVER_FILE = "/proc/driver/nvidia/version"


def _absl_line(file: str, message: str) -> str:
    """Regex of one absl-formatted C++ log line: `I0000 00:00:<time> <thread> file:N] msg`."""
    return r"[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ " + file + r":\d+\] " + message


ALWAYS_NOISE = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    _absl_line(file=r"port\.cc", message=r"oneDNN custom operations are on\. .*"),
)
NO_GPU_NOISE = (
    _absl_line(
        file=r"cudart_stub\.cc",
        message=r"Could not find cuda drivers on your machine, GPU will not be used\.",
    ),
    _absl_line(file=r"cuda_platform\.cc", message=r"failed call to cuInit: .*"),
)


def debug_requested(environ: MutableMapping[str, str] | None = None) -> bool:
    """True when SEQLINE_LOG_LEVEL is "debug" (case-insensitive)."""
    env = os.environ if environ is None else environ
    return env.get(LOG_LEVEL_ENV, "").strip().lower() == "debug"


def noise_patterns(has_nvidia_driver: bool | None = None) -> re.Pattern[str]:
    """One regex matching a whole noise line (without its line break)."""
    if has_nvidia_driver is None:
        has_nvidia_driver = os.path.exists(NVIDIA_DRIVER_FILE)
    lines = ALWAYS_NOISE if has_nvidia_driver else ALWAYS_NOISE + NO_GPU_NOISE
    return re.compile("|".join(f"(?:{line})" for line in lines))


def _pump(read_fd: int, write_fd: int, noise: re.Pattern[str]) -> None:
    """Copies lines from read_fd to write_fd until EOF, dropping the lines `noise` matches."""
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [
                line + b"\n"
                for line in lines
                if not noise.fullmatch(line.decode("utf-8", "replace").rstrip("\r"))
            ]
            if kept:
                os.write(write_fd, b"".join(kept))
    if pending:
        os.write(write_fd, pending)


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern[str]) -> Iterator[None]:
    """Within the block, lines written to file descriptor 2 (by C++ code or Python) that
    `noise` matches in full are dropped; everything else reaches stderr unchanged and in
    order. Restores fd 2 on exit (a child started inside the block keeps the filter)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(
        target=_pump, args=(read_fd, saved, noise), name="quiet-tf-logs", daemon=True
    )
    pump.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer goes: the pump sees EOF and drains
        pump.join(timeout=5)
        if not pump.is_alive():
            os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of `tensorflow` inside filtered_stderr, then lists the devices
    there too (the CUDA platform logs its cuInit failure then, once per process)."""

    def __init__(self, loader: Any, noise: re.Pattern[str], finder: Any) -> None:
        self._loader = loader
        self._noise = noise
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The hook goes once TensorFlow really loads, not when something merely looks it up:
        # importlib.util.find_spec("tensorflow") (the code fingerprint does) also asks us.
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self._finder]
        with filtered_stderr(self._noise):
            self._loader.exec_module(module)
            with contextlib.suppress(Exception):  # never let quieting break the import
                module.config.list_physical_devices()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the first import of the top-level `tensorflow` package in _QuietLoader; stays in
    sys.meta_path until that import runs (lookups without an import leave it in place)."""

    def __init__(self, noise: re.Pattern[str]) -> None:
        self._noise = noise

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader, self._noise, self)
        return spec


def quiet_tensorflow_logs(environ: MutableMapping[str, str] | None = None) -> bool:
    """Silences TensorFlow's start-up noise (see the module docstring) unless
    SEQLINE_LOG_LEVEL=debug. Call before TensorFlow is imported; later it only sets
    TF_CPP_MIN_LOG_LEVEL for child processes. Idempotent. Returns whether it quiets."""
    env = os.environ if environ is None else environ
    if debug_requested(env):
        return False
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # INFO off; warnings and errors stay
    installed = any(isinstance(f, _QuietImportFinder) for f in sys.meta_path)
    if "tensorflow" not in sys.modules and not installed:
        sys.meta_path.insert(0, _QuietImportFinder(noise_patterns()))
    return True
