"""`seqline serve` checks its flags before importing TensorFlow, so a usage error is quick."""

from __future__ import annotations

import subprocess
import sys

import pytest

_SCRIPT = """
import sys
from seqline.serving.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], "model_base_path"),  # neither a model nor a config file
        (["--model_config_file", "/nonexistent/models.config"], "/nonexistent/models.config"),
    ],
)
def test_a_bad_flag_combination_fails_without_importing_tensorflow(
    flags: list[str], expected: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "serve", *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "tensorflow imported: False" in done.stdout
