"""serving/quiet_logs.py: no CUDA/oneDNN start-up noise on a CPU-only machine, real errors kept,
SEQLINE_LOG_LEVEL=debug shows everything. Each check runs a fresh Python process and reads its
stderr (the noise comes from C++ code writing to file descriptor 2)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seqline.serving import quiet_logs

NO_DRIVER = not os.path.exists(quiet_logs.NVIDIA_DRIVER_FILE)
NOISE = ("cuInit", "cudart_stub", "absl::InitializeLog", "oneDNN custom operations", "cpu_feature")

# Imports TensorFlow through Keras (as training does), runs an op, then writes a real error in
# the absl format to fd 2 after the filter window and one inside it (during the import).
CHILD = """
import os, sys
{setup}
import keras
import tensorflow as tf
print(float(tf.reduce_sum(tf.ones((2, 2)))))
os.write(2, b"E0000 00:00:1.0 1 real_kernel.cc:7] a real error after import\\n")
"""


def run_child(setup: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "SEQLINE_"))}
    # oneDNN's notice only prints where oneDNN is on by default; force it on to see it go.
    environ.update({"TF_ENABLE_ONEDNN_OPTS": "1", **env})
    return subprocess.run(
        [sys.executable, "-c", CHILD.format(setup=setup)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=180,
        check=True,
    )


def cli_help(module: str) -> str:
    # Both CLIs' main() quiet before they parse arguments; `--help` then exits early.
    return f"from {module} import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"


# The lookup the code fingerprint makes, importlib.util.find_spec("tensorflow") before any
# executor imports it: the hook used to remove itself on that lookup, so the real import was loud.
LOOKUP_FIRST = "\nimport importlib.util\nassert importlib.util.find_spec('tensorflow') is not None"


@pytest.fixture(scope="module")
def serving_cli_then_lookup() -> subprocess.CompletedProcess[str]:
    """One child (a TensorFlow import costs seconds) for two checks: the serving CLI quiets,
    and a lookup of tensorflow after quieting and before its import keeps it quiet."""
    return run_child(cli_help("seqline.serving.cli") + LOOKUP_FIRST)


@pytest.mark.skipif(not NO_DRIVER, reason="needs a machine without the NVIDIA driver")
@pytest.mark.parametrize("module", ["seqline.pipeline.cli", "seqline.serving.cli"])
def test_cli_start_up_is_quiet_and_real_errors_pass(
    module: str, request: pytest.FixtureRequest
) -> None:
    if module == "seqline.serving.cli":
        quiet = request.getfixturevalue("serving_cli_then_lookup")
    else:
        quiet = run_child(cli_help(module))
    assert quiet.stdout.strip().endswith("4.0")
    assert not [word for word in NOISE if word in quiet.stderr], quiet.stderr
    assert "a real error after import" in quiet.stderr


@pytest.mark.skipif(not NO_DRIVER, reason="needs a machine without the NVIDIA driver")
def test_debug_level_shows_the_noise() -> None:
    loud = run_child(cli_help("seqline.pipeline.cli"), SEQLINE_LOG_LEVEL="debug")
    for word in ("cuInit", "cudart_stub", "oneDNN custom operations"):
        assert word in loud.stderr
    assert "a real error after import" in loud.stderr


def test_the_filter_drops_only_the_known_lines_and_keeps_order() -> None:
    code = (
        "import os, re, sys\n"
        "from seqline.serving.quiet_logs import filtered_stderr, noise_patterns\n"
        "with filtered_stderr(noise_patterns(has_nvidia_driver=False)):\n"
        "    os.write(2, b'I0000 00:00:1.5 9 cudart_stub.cc:31] Could not find cuda drivers "
        "on your machine, GPU will not be used.\\n')\n"
        "    os.write(2, b'E0000 00:00:1.5 9 cuda_platform.cc:52] failed call to cuInit: X\\n')\n"
        "    os.write(2, b'E0000 00:00:1.5 9 op_kernel.cc:1] failed call to cuInit: X\\n')\n"
        "    print('python warning', file=sys.stderr, flush=True)\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\\npartial line without break')\n"
        "print('after', file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stderr.splitlines() == [
        "E0000 00:00:1.5 9 op_kernel.cc:1] failed call to cuInit: X",
        "python warning",
        "partial line without breakafter",
    ]


def test_with_an_nvidia_driver_a_cuinit_failure_is_a_real_error() -> None:
    line = "E0000 00:00:1.5 9 cuda_platform.cc:52] failed call to cuInit: CUDA_ERROR_NO_DEVICE"
    assert quiet_logs.noise_patterns(has_nvidia_driver=False).fullmatch(line)
    assert not quiet_logs.noise_patterns(has_nvidia_driver=True).fullmatch(line)


def test_debug_level_and_an_explicit_tf_level_are_respected(monkeypatch) -> None:
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # keep this process unhooked
    env = {"SEQLINE_LOG_LEVEL": "DEBUG"}
    assert quiet_logs.quiet_tensorflow_logs(env) is False and "TF_CPP_MIN_LOG_LEVEL" not in env
    env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    assert quiet_logs.quiet_tensorflow_logs(env) is True
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "0"  # the user's own choice wins
    assert quiet_logs.quiet_tensorflow_logs({}) is True


@pytest.mark.skipif(not NO_DRIVER, reason="needs a machine without the NVIDIA driver")
def test_a_lookup_of_tensorflow_before_its_import_keeps_it_quiet(
    serving_cli_then_lookup: subprocess.CompletedProcess[str],
) -> None:
    # The serving CLI's main() called quiet_tensorflow_logs(), then the lookup ran, then the
    # import (LOOKUP_FIRST): quiet only if the hook stayed in place through the lookup.
    quiet = serving_cli_then_lookup
    assert not [word for word in NOISE if word in quiet.stderr], quiet.stderr
    assert "a real error after import" in quiet.stderr
