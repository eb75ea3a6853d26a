"""Complete fingerprints: the import closure of a component's code, library versions, version."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
import textwrap

import pytest

from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.fingerprint import library_versions, module_closure
from seqline.pipeline.runner import compute_fingerprints, run_pipeline

PACKAGE = {
    "__init__.py": "",
    "shared.py": "FACTOR = 1\n",
    "only_b.py": "OFFSET = 0\n",
    "typing_only.py": "class Hint: ...\n",
    "config.py": textwrap.dedent(
        """
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Config:
            n: int = 3
        """
    ),
    "comp_a.py": textwrap.dedent(
        """
        from typing import TYPE_CHECKING

        from seqline.pipeline.component import Component
        from .config import Config

        if TYPE_CHECKING:  # annotations only: not part of the code
            from .typing_only import Hint

        def run(ctx):
            from . import (  # lazy, inside the executor, as seqline's executors do
                shared,
            )

            ctx.outputs["out"].properties["value"] = ctx.config.n * shared.FACTOR
            return {}

        COMPONENT = Component("a", {}, {"out": "Examples"}, Config, run)
        """
    ),
    "comp_b.py": textwrap.dedent(
        """
        from seqline.pipeline.component import Component
        from .config import Config
        from .only_b import OFFSET

        def run(ctx):
            ctx.outputs["out"].properties["value"] = ctx.config.n + OFFSET
            return {}

        COMPONENT = Component("b", {}, {"out": "Examples"}, Config, run)
        """
    ),
    "comp_c.py": textwrap.dedent(
        """
        from seqline.pipeline.component import Component
        from fpkg_NAME.config import Config
        import fpkg_NAME.shared

        def run(ctx):
            value = ctx.inputs["examples"].properties["value"] * fpkg_NAME.shared.FACTOR
            ctx.outputs["out"].properties["value"] = value
            return {}

        COMPONENT = Component(
            "c", {"examples": "Examples"}, {"out": "Examples"}, Config, run
        )
        """
    ),
}


@pytest.fixture
def package(tmp_path, monkeypatch, request):
    """A temporary importable package `fpkg_<test>` on sys.path: shared.py is used by comp_a
    (lazily) and comp_c; only_b.py by comp_b only."""
    name = f"fpkg_{request.node.name[-12:].replace('-', '_')}"
    folder = tmp_path / "src" / name
    folder.mkdir(parents=True)
    for file, text in PACKAGE.items():
        (folder / file).write_text(text.replace("fpkg_NAME", name))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield name, folder
    for module in [m for m in sys.modules if m.split(".")[0] == name]:
        del sys.modules[module]


def components(name):
    return [importlib.import_module(f"{name}.comp_{x}").COMPONENT for x in "abc"]


def pipeline(root, name, version_of_b=1):
    a, b, c = components(name)
    b = dataclasses.replace(b, version=version_of_b)
    config = a.config_type()
    return Pipeline(
        "fp",
        str(root),
        [
            Node(a, config, id="a"),
            Node(b, config, id="b"),
            Node(c, config, {"examples": OutputRef("b", "out")}, id="c"),
        ],
    )


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    # A different length, so the edit is seen even within one mtime tick.
    path.write_text(text.replace(old, new) + "# edited\n")


def statuses(result):
    return {n.node_id: n.status for n in result.nodes}


def test_editing_a_shared_module_reruns_exactly_the_nodes_that_import_it(package, tmp_path):
    name, folder = package
    root = tmp_path / "root"
    assert set(statuses(run_pipeline(pipeline(root, name))).values()) == {"COMPLETE"}
    assert set(statuses(run_pipeline(pipeline(root, name))).values()) == {"CACHED"}

    edit(folder / "shared.py", "FACTOR = 1", "FACTOR = 2")
    after_shared = run_pipeline(pipeline(root, name))
    assert statuses(after_shared) == {"a": "COMPLETE", "b": "CACHED", "c": "COMPLETE"}

    edit(folder / "only_b.py", "OFFSET = 0", "OFFSET = 1")
    after_b = run_pipeline(pipeline(root, name))
    # c reruns because its input changed, a is untouched
    assert statuses(after_b) == {"a": "CACHED", "b": "COMPLETE", "c": "COMPLETE"}

    bumped = run_pipeline(pipeline(root, name, version_of_b=2))
    assert statuses(bumped) == {"a": "CACHED", "b": "COMPLETE", "c": "COMPLETE"}


def test_the_closure_follows_seqline_and_the_own_package_only(package):
    name, _ = package
    closure = module_closure([f"{name}.comp_a"])
    assert {f"{name}.comp_a", f"{name}.config", f"{name}.shared", name} <= set(closure)
    assert f"{name}.only_b" not in closure
    assert f"{name}.typing_only" not in closure
    assert "seqline.pipeline.component" in closure
    assert not any(m.startswith(("dataclasses", "tensorflow")) for m in closure)


def test_the_closure_follows_user_modules_outside_the_package_but_not_installed_ones(
    package, tmp_path
):
    """A component's helper imported from a top-level module of the user's (PYTHONPATH or the
    working directory) was not in the code hash: editing it left the node cached."""
    from seqline.pipeline.fingerprint import code_digest

    name, folder = package
    helper = f"rules_{name}"
    (tmp_path / "src" / f"{helper}.py").write_text("import numpy\nPATTERN = 'a'\n")
    edit(
        folder / "comp_b.py",
        "from .only_b import OFFSET",
        f"from .only_b import OFFSET\nimport {helper}",
    )
    component = components(name)[1]
    closure = module_closure([f"{name}.comp_b"])
    assert helper in closure
    assert not any(m.split(".")[0] in ("numpy", "dataclasses") for m in closure)
    before = code_digest(component)
    edit(tmp_path / "src" / f"{helper}.py", "PATTERN = 'a'", "PATTERN = 'b'")
    assert code_digest(component) != before
    sys.modules.pop(helper, None)


def test_a_pip_target_folder_on_the_path_is_libraries_not_user_code(tmp_path, monkeypatch):
    """`pip install --target /opt/lib` (Airflow / KFP images) puts libraries outside
    site-packages; their whole import graph would be hashed on every run."""
    from seqline.pipeline import fingerprint

    target = tmp_path / "target"
    (target / "vendored_lib_x").mkdir(parents=True)
    (target / "vendored_lib_x" / "__init__.py").write_text("")
    (target / "vendored_lib_x-1.0.dist-info").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "helper_mod_x.py").write_text("")
    monkeypatch.syspath_prepend(str(target))
    monkeypatch.syspath_prepend(str(tmp_path / "mine"))
    assert fingerprint._is_user_code("helper_mod_x")
    assert not fingerprint._is_user_code("vendored_lib_x")
    # A quoted dotted name ("config.json", "metrics.mae") is not followed into user code:
    # only seqline's and the component's own modules are run from strings (`python -m`).
    (tmp_path / "mine" / "helper_pkg_x").mkdir()
    (tmp_path / "mine" / "helper_pkg_x" / "__init__.py").write_text("")
    (tmp_path / "mine" / "helper_pkg_x" / "sub.py").write_text("")
    (tmp_path / "mine" / "uses_it.py").write_text('NAME = "helper_pkg_x.sub"\n')
    assert not any(m.startswith("helper_pkg_x") for m in module_closure(["uses_it"]))
    (tmp_path / "mine" / "imports_it.py").write_text("import helper_pkg_x.sub\n")
    assert "helper_pkg_x.sub" in module_closure(["imports_it"])


def test_closure_of_seqline_components_crosses_folders_without_importing_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        from seqline.components.infra_validate.component import COMPONENT
        from seqline.pipeline.fingerprint import component_modules, module_closure
        closure = module_closure(component_modules(COMPONENT))
        assert "seqline.pipeline.artifacts.examples" in closure, sorted(closure)
        assert "seqline.schemas.text" in closure  # another top-level folder
        assert "seqline.serving.cli" in closure  # run as `python -m` in a child process
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "apache_beam")]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_library_versions_are_in_the_fingerprint(tmp_path, monkeypatch, package):
    name, _ = package
    base = compute_fingerprints(pipeline(tmp_path, name))
    assert set(library_versions()) == {"tensorflow", "tensorflow-transform", "apache-beam", "keras"}
    monkeypatch.setattr(
        "seqline.pipeline.fingerprint.library_versions", lambda: {"tensorflow": "9.9"}
    )
    assert set(compute_fingerprints(pipeline(tmp_path, name)).values()).isdisjoint(base.values())
