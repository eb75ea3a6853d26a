"""scripts/setup.sh: installs once, then is instant for any extras already installed, so the
demo (dev) and the tests (dev,airflow,kfp) do not reinstall each other's packages. Runs the
script in a scratch copy whose .venv/bin/python only logs what pip is asked to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE_PYTHON = '#!/usr/bin/env bash\necho "$*" >> "$(dirname "$0")/../../calls.log"\n'


def _scratch(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts")
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path)
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return tmp_path


def _installs(root: Path, extras: str | None) -> list[str]:
    """The `pip install -e` lines one run of setup.sh with SEQLINE_EXTRAS=`extras` made."""
    log = root / "calls.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "SEQLINE_EXTRAS"}
    env["PYTHON"] = sys.executable  # any Python 3.11 passes the version check
    if extras is not None:
        env["SEQLINE_EXTRAS"] = extras
    subprocess.run(["bash", "scripts/setup.sh"], cwd=root, env=env, check=True, capture_output=True)
    return [line for line in log.read_text().splitlines() if " -e " in line]


def test_installed_extras_are_not_reinstalled_when_alternating(tmp_path):
    root = _scratch(tmp_path)
    assert [line.split()[-1] for line in _installs(root, None)] == [".[dev]"]
    assert _installs(root, None) == []
    assert [line.split()[-1] for line in _installs(root, "dev,airflow,kfp")] == [
        ".[dev,airflow,kfp]"
    ]
    assert _installs(root, None) == []  # the demo after the tests: dev is installed
    assert _installs(root, "kfp,dev") == []
    # A new extra installs together with the ones already there (one consistent resolve).
    assert [line.split()[-1] for line in _installs(root, "imdb")] == [".[dev,airflow,kfp,imdb]"]


def test_a_changed_pin_reinstalls_only_the_extras_asked_for(tmp_path):
    root = _scratch(tmp_path)
    _installs(root, "dev,airflow")
    with (root / "constraints.txt").open("a") as pins:
        pins.write("\n# changed\n")
    assert [line.split()[-1] for line in _installs(root, None)] == [".[dev]"]


def test_the_install_brings_the_pinned_setuptools_and_builds_with_it(tmp_path):
    # The wheel build in tests/test_packaging.py runs without isolation on .venv's setuptools,
    # and the editable install must not depend on whatever setuptools PyPI has that day.
    root = _scratch(tmp_path)
    (install,) = _installs(root, None)
    args = install.split()
    assert "setuptools" in args
    assert args[args.index("-c") + 1] == "constraints.txt"
    assert args[args.index("--build-constraint") + 1] == "constraints.txt"
