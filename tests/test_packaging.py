"""The code folders install as seqline.*; nothing installs a bare top-level package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
CODE_FOLDERS = {"pipeline", "components", "schemas", "serving", "orchestration", "storage"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_code_package_is_listed_in_pyproject():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = set()
    for folder in CODE_FOLDERS:
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO).parts
            on_disk.add(".".join(("seqline", *rel)))
    missing = on_disk - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_pinned_setuptools_can_build_this_pyproject():
    # setup.sh installs the constraints.txt pin into .venv and builds with it; a pin below the
    # build requirement (77 reads the SPDX license string) would fail every install.
    requires = [Requirement(r) for r in _pyproject()["build-system"]["requires"]]
    (setuptools,) = [r for r in requires if r.name == "setuptools"]
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    assert "setuptools" in pins, "pin setuptools in constraints.txt"
    assert Version(pins["setuptools"]) in setuptools.specifier


def test_package_dir_maps_folders_into_the_seqline_namespace():
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    assert mapping == {f"seqline.{name}": name for name in CODE_FOLDERS}


@pytest.mark.slow
def test_regular_wheel_contains_only_the_seqline_namespace(tmp_path):
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", *CODE_FOLDERS):
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("seqline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_levels = {n.split("/")[0] for n in names if not n.startswith("seqline-")}
    assert top_levels == {"seqline"}
    assert "seqline/pipeline/runner.py" in names
    assert "seqline/components/text_pipeline.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "seqline = seqline.pipeline.cli:entry" in text
    assert "text = seqline.components.text_pipeline:build_text_pipeline" in text
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    headers = zipfile.ZipFile(wheel).read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert "License-Expression: Apache-2.0" in headers
    assert not [h for h in headers if h.startswith("License:")]  # the deprecated free-text field


def test_cli_help_does_not_import_tensorflow_beam_or_tft():
    code = (
        "import sys, contextlib, io\n"
        "from seqline.pipeline.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'tensorflow_transform', 'keras')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
