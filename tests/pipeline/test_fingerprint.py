"""Complete fingerprints: the import closure of a component's code, library versions, version."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import re
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

        COMPONENT = Component("a", {}, {"out": "Values"}, Config, run)
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

        COMPONENT = Component("b", {}, {"out": "Values"}, Config, run)
        """
    ),
    # A COMPONENT whose executor is made by a factory in another module, or is a partial:
    # the constant it bakes in lives in the component's own module only.
    "factory_lib.py": textwrap.dedent(
        """
        from seqline.pipeline.component import Component
        from .config import Config

        def make_executor(threshold):
            def run(ctx):
                ctx.outputs["out"].properties["value"] = threshold
                return {}
            return run

        def make_component(threshold):
            return Component("made", {}, {"out": "Values"}, Config, make_executor(threshold))
        """
    ),
    "factory_comp.py": textwrap.dedent(
        """
        from seqline.pipeline.component import Component
        from .config import Config
        from .factory_lib import make_executor

        THRESHOLD = 3
        COMPONENT = Component("factory", {}, {"out": "Values"}, Config, make_executor(THRESHOLD))
        """
    ),
    "made_comp.py": textwrap.dedent(
        """
        from .factory_lib import make_component

        THRESHOLD = 3
        COMPONENT = make_component(THRESHOLD)
        """
    ),
    "partial_comp.py": textwrap.dedent(
        """
        import functools

        from seqline.pipeline.component import Component
        from .config import Config

        THRESHOLD = 3

        def run(ctx, factor):
            ctx.outputs["out"].properties["value"] = THRESHOLD * factor
            return {}

        COMPONENT = Component(
            "partial", {}, {"out": "Values"}, Config, functools.partial(run, factor=10)
        )
        """
    ),
    "scorer.py": textwrap.dedent(
        """
        from tests.pipeline.test_fingerprint import BaseScorer

        class Strict(BaseScorer):
            THRESHOLD = 99
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
            "c", {"examples": "Values"}, {"out": "Values"}, Config, run
        )
        """
    ),
}


@pytest.fixture
def package(tmp_path, monkeypatch, request):
    """A temporary importable package `fpkg_<test>` on sys.path: shared.py is used by comp_a
    (lazily) and comp_c; only_b.py by comp_b only."""
    # Unique per test: fingerprint.py remembers where a module name's source file is.
    tag = hashlib.sha256(request.node.name.encode()).hexdigest()[:6]
    name = "fpkg_" + re.sub(r"\W", "_", request.node.name[-12:]) + f"_{tag}"
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


def _custom_fingerprint(root, reference):
    """The fingerprint of one node running `reference` ("module:ATTRIBUTE", loaded as YAML's
    `component:` is, or a Component), in a fresh import of its module."""
    from seqline.pipeline.custom_nodes import add_node

    if isinstance(reference, str):
        sys.modules.pop(reference.split(":")[0], None)  # a new process imports it again
    return compute_fingerprints(add_node(Pipeline("fp", str(root), []), "custom", reference))[
        "custom"
    ]


@pytest.mark.parametrize(
    ("module", "by_reference"),
    [
        ("factory_comp", True),  # executor=make_executor(THRESHOLD), the factory elsewhere
        ("factory_comp", False),  # the same Component handed over from Python
        ("partial_comp", True),  # executor=functools.partial(run, factor=10)
        ("partial_comp", False),
        ("made_comp", True),  # COMPONENT = make_component(THRESHOLD), built elsewhere
    ],
)
def test_editing_the_module_that_defines_the_component_reruns_it(
    package, tmp_path, module, by_reference
):
    """The module the YAML names was not in the code hash: with a factory-made executor or a
    functools.partial, editing its constant left the node cached with the old result."""
    name, folder = package
    reference = f"{name}.{module}:COMPONENT"

    def fingerprint():
        if by_reference:
            return _custom_fingerprint(tmp_path, reference)
        sys.modules.pop(f"{name}.{module}", None)
        return _custom_fingerprint(tmp_path, importlib.import_module(f"{name}.{module}").COMPONENT)

    before = fingerprint()
    assert fingerprint() == before  # stable while nothing changes
    edit(folder / f"{module}.py", "THRESHOLD = 3", "THRESHOLD = 99")
    assert fingerprint() != before


def _plain_run(ctx, factor=1):
    return {}


class BaseScorer:
    """An executor as a method: a subclass in a user's module sets THRESHOLD."""

    THRESHOLD = 1

    def run(self, ctx):
        return {"threshold": self.THRESHOLD}


@pytest.mark.parametrize(
    "make_executor",
    [
        lambda name: (functools.partial(_plain_run, factor=2), __name__),
        lambda name: (functools.partial(functools.partial(_plain_run), factor=2), __name__),
        lambda name: (importlib.import_module(f"{name}.scorer").Strict().run, f"{name}.scorer"),
    ],
    ids=["partial", "nested-partial", "method-of-a-subclass"],
)
def test_the_code_of_a_wrapped_executor_is_its_functions_module_not_functools(
    package, make_executor
):
    """A partial's module is `functools`: the executor's own module dropped out of the hash.
    A bound method inherited from a base class lives in the base's module; the subclass's
    module (its THRESHOLD) is code too."""
    from seqline.pipeline.fingerprint import component_modules

    name, _ = package
    executor, module = make_executor(name)
    built = dataclasses.replace(components(name)[1], executor=executor)
    modules = component_modules(built)
    assert module in modules
    assert "functools" not in modules
