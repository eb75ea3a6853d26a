"""Fingerprints: same code, libraries, config and inputs -> same fingerprint -> cache hit.

A node's fingerprint is 20 hex characters of sha256 over:
  - the component's name and its explicit `version`;
  - its code: the bytes of every module in the import closure of the component's own modules
    (the one defining the Component and the one a YAML `component:` names, the executor's,
    through a functools.partial or a bound method too, the config's, the check's, the
    resolvers'), found statically with `ast`:
    `import` and `from ... import` statements anywhere in a module (executors import lazily
    inside functions) are followed when they name a `seqline.*` module, a module of the
    component's own top-level package (an out-of-tree component's package) or any other
    module whose source is outside the installed libraries and the standard library (a
    user's shared helper on PYTHONPATH), transitively,
    with each package's `__init__.py`; a string constant naming such a module counts too
    (`python -m seqline.serving.cli` in a child process); imports under `if TYPE_CHECKING:`
    do not (they only serve annotations). Nothing is imported to find them;
  - the installed versions of TensorFlow, TensorFlow Transform, Apache Beam and Keras, read
    from package metadata (importing TensorFlow would cost seconds on a fully cached run),
    and of the component's own `libraries` (e.g. keras-tuner for tune_text);
  - its config (canonical JSON), its inputs' fingerprints, its resolved inputs' fingerprints,
    and for components that read outside data, that data's identity.

Files are re-read only when their size or mtime changes, so a fully cached run stays fast and
an edit made while a process is alive (a test, a notebook) is still seen.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import types
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqline.pipeline.component import Component

# Libraries whose version can change a result; read with importlib.metadata, never imported.
LIBRARIES = ("tensorflow", "tensorflow-transform", "apache-beam", "keras")
FRAMEWORK_PACKAGE = "seqline"


def library_versions() -> dict[str, str]:
    """Distribution name -> installed version ("absent" when not installed) of LIBRARIES."""
    return versions_of(LIBRARIES)


@functools.cache
def versions_of(names: tuple[str, ...]) -> dict[str, str]:
    """Distribution name -> installed version ("absent" when not installed), for `names`."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


# An import statement: (level of a relative import, module or "", imported names, quoted),
# quoted for a dotted name in a string ("seqline.serving.cli" run as `python -m`).
_ImportRecord = tuple[int, str, tuple[str, ...], bool]


_IMPORT_LINE = re.compile(r"^([ \t]*)(?:from[ \t]+[.\w]+[ \t]+import\b|import[ \t]+[A-Za-z_])")
_TYPE_CHECKING = re.compile(r"^([ \t]*)if[ \t]+(?:typing\.)?TYPE_CHECKING[ \t]*:")
_QUOTED_DOTTED = re.compile(r"""(["'])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\1""")


def _statement_records(statement: str) -> list[_ImportRecord]:
    try:
        tree = ast.parse(statement)
    except SyntaxError:
        return []  # e.g. an "import ..." line inside a docstring
    records: list[_ImportRecord] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            records.extend((0, alias.name, (), False) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            records.append((node.level, node.module or "", names, False))
    return records


def _scan_imports(text: str) -> list[_ImportRecord]:
    """The import statements of a module, at any depth (executors import inside functions),
    except under `if TYPE_CHECKING:` (annotations only, no behaviour). A line scan that parses
    only the import statements: parsing and walking whole files made a fully cached run of the
    text pipeline spend a second here."""
    records: list[_ImportRecord] = []
    lines = text.splitlines()
    skip_deeper_than: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if match := _TYPE_CHECKING.match(line):
            skip_deeper_than = len(match.group(1))
            continue
        if not _IMPORT_LINE.match(line):
            continue
        # Comments go (an import line has no "#" in a string); then parenthesised or
        # backslash-continued imports are joined into one line.
        statement = stripped.split("#", 1)[0].strip()
        while i < len(lines) and (
            statement.count("(") > statement.count(")") or statement.endswith("\\")
        ):
            statement = statement.rstrip("\\") + " " + lines[i].split("#", 1)[0].strip()
            i += 1
        records.extend(_statement_records(statement))
    return records


@functools.cache
def _file_facts(path: str, mtime_ns: int, size: int) -> tuple[str, tuple[_ImportRecord, ...]]:
    """(sha256 of the file, its import statements), cached by size and mtime, so an edited
    file is read again. A quoted dotted name such as "seqline.serving.cli" counts as an import
    too: a module run in a child process (`python -m ...`) is code as well."""
    del mtime_ns, size  # cache key only
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", "replace")
    records = _scan_imports(text)
    records.extend((0, m.group(2), (), True) for m in _QUOTED_DOTTED.finditer(text))
    return hashlib.sha256(data).hexdigest(), tuple(records)


def _facts(path: str) -> tuple[str, tuple[_ImportRecord, ...]]:
    stat = os.stat(path)
    return _file_facts(path, stat.st_mtime_ns, stat.st_size)


def _imported_names(records: Iterable[_ImportRecord], package: str) -> list[tuple[str, bool]]:
    """(absolute name, quoted) of the modules an import statement may load; relative imports
    are resolved against `package`. `from pkg import x` yields pkg and pkg.x (x may be a
    module)."""
    names: list[tuple[str, bool]] = []
    for level, module, imported, quoted in records:
        if level:
            parts = package.split(".") if package else []
            if level - 1 > len(parts):
                continue  # beyond the top-level package: Python would fail too
            base = ".".join([*parts[: len(parts) - (level - 1)], *([module] if module else [])])
        else:
            base = module
        if not base:
            continue
        names.append((base, quoted))
        names.extend((f"{base}.{name}", quoted) for name in imported)
    return names


_SPEC_FILES: dict[str, tuple[str, bool]] = {}


def _is_package(name: str) -> bool:
    """True if `name` is a package (namespace packages such as `seqline` included)."""
    module = sys.modules.get(name)
    if module is not None:
        return hasattr(module, "__path__")
    located = _module_file(name)
    if located is not None:
        return located[1]
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.submodule_search_locations is not None


def _module_file(name: str) -> tuple[str, bool] | None:
    """(source file, is a package) of module `name`, or None if it is not a Python source
    module (an attribute imported with `from`, a missing module, a compiled extension)."""
    if name in _SPEC_FILES:
        return _SPEC_FILES[name]
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is not None:
        found = (origin, hasattr(module, "__path__"))
    else:
        parent = name.rpartition(".")[0]
        if parent and not _is_package(parent):
            return None  # `from module import attribute`: never import the module to find out
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.origin or not spec.has_location:
            return None
        found = (spec.origin, spec.submodule_search_locations is not None)
    if not found[0].endswith(".py"):
        return None
    _SPEC_FILES[name] = found
    return found


def _installed_roots() -> tuple[str, ...]:
    """Folders whose modules are installed libraries or the standard library: their versions
    are hashed through LIBRARIES / Component.libraries, never their source."""
    import site
    import sysconfig

    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


@functools.cache
def _is_user_code(top_level: str) -> bool:
    """True if top-level module `top_level` is source outside the installed libraries and the
    standard library: a user's helper module on PYTHONPATH or in the working directory, shared
    by a component's code. Found from its spec without importing it (importing a top-level
    name to locate it would cost TensorFlow's import on a cached run)."""
    if top_level in sys.builtin_module_names or top_level in sys.stdlib_module_names:
        return False
    try:
        spec = importlib.util.find_spec(top_level)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    places = [spec.origin] if spec.has_location and spec.origin else []
    places += list(spec.submodule_search_locations or [])
    if not places or not all(str(p).endswith(".py") or os.path.isdir(p) for p in places):
        return False  # a compiled extension or a frozen module
    installed = _installed_roots()
    real = [os.path.realpath(str(p)).rstrip(os.sep) for p in places]
    return not any(
        r.startswith(installed)
        or f"{os.sep}site-packages{os.sep}" in r
        or "dist-packages" in r
        or _holds_distributions(os.path.dirname(r))
        for r in real
    )


@functools.cache
def _holds_distributions(folder: str) -> bool:
    """True if `folder` holds installed distributions' metadata (`*.dist-info`): a
    `pip install --target` folder on PYTHONPATH is libraries, not the user's code."""
    try:
        return any(name.endswith(".dist-info") for name in os.listdir(folder))
    except OSError:
        return False


def module_closure(modules: Iterable[str]) -> dict[str, str]:
    """Module name -> source file for `modules` and every module they import (anywhere in their
    body) that belongs to seqline, to one of their own top-level packages, or to user code
    outside the installed libraries (a shared helper module on PYTHONPATH), transitively,
    parent packages' `__init__.py` included."""
    roots = [m for m in modules if m]
    allowed = {FRAMEWORK_PACKAGE, *(m.split(".")[0] for m in roots)}
    found: dict[str, str] = {}
    # (name, quoted): a quoted dotted name ("metrics.json" too) is followed only into seqline
    # and the components' own packages; other user code only through import statements.
    pending = [(m, False) for m in roots]
    while pending:
        name, quoted = pending.pop()
        top = name.split(".")[0]
        if name in found:
            continue
        if top not in allowed and (quoted or not _is_user_code(top)):
            continue
        located = _module_file(name)
        if located is None:
            continue
        path, is_package = located
        found[name] = path
        package = name if is_package else name.rpartition(".")[0]
        pending.extend(_imported_names(_facts(path)[1], package))
        parent = name.rpartition(".")[0]
        if parent:
            pending.append((parent, False))
    return found


def _owner_modules(obj: Any, depth: int = 0) -> list[str]:
    """The modules whose code `obj` runs: a function's or a class's own module; through a
    functools.partial, its function's (and those of callables among its bound arguments);
    for a bound method, its function's and its instance's class's; for any other callable
    instance, its class's. A partial's own module (`functools`) says nothing of the code."""
    if obj is None or depth > 8:
        return []
    if isinstance(obj, functools.partial | functools.partialmethod):
        bound = [v for v in (*obj.args, *(obj.keywords or {}).values()) if callable(v)]
        return [m for o in (obj.func, *bound) for m in _owner_modules(o, depth + 1)]
    if isinstance(obj, types.MethodType):
        owner = obj.__self__ if isinstance(obj.__self__, type) else type(obj.__self__)
        return _owner_modules(obj.__func__, depth + 1) + _owner_modules(owner, depth + 1)
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = getattr(type(obj), "__module__", None)
    return [module] if module else []


def component_modules(component: Component) -> list[str]:
    """The modules that define `component`'s behaviour: the ones it was defined in
    (Component.defined_in: where `Component(...)` ran, and the module a YAML reference
    names), its executor's (and the typed function's it wraps), its config class's, its
    check's and source-fingerprint function's, and its resolvers' classes'."""
    owners = [component.executor, component.config_type, component.check]
    # A component built from a typed function wraps it; the function's module is its code.
    owners += [component.source_fingerprint, getattr(component, "function", None)]
    owners.extend(type(r) for r in getattr(component, "resolved", {}).values())
    modules = {m for owner in owners for m in _owner_modules(owner)}
    modules.update(getattr(component, "defined_in", ()))
    return sorted(m for m in modules if m and m != "builtins")


def code_digest(component: Component) -> str:
    """sha256 over the module name and bytes of every module in the component's closure."""
    digest = hashlib.sha256()
    for name, path in sorted(module_closure(component_modules(component)).items()):
        digest.update(f"{name}\0{_facts(path)[0]}\0".encode())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def config_json(config: Any) -> str:
    """Canonical JSON of a config dataclass (sorted keys, tuples as lists)."""
    return json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))


def node_fingerprint(
    component: Component,
    config: Any,
    input_fingerprints: Mapping[str, str],
    source: str = "",
    resolved_fingerprints: Mapping[str, str] | None = None,
) -> str:
    """Fingerprint of one execution (see the module docstring for what it covers)."""
    digest = hashlib.sha256()
    # Only components that declare libraries hash them, so every other fingerprint is unchanged.
    libraries = tuple(getattr(component, "libraries", ()))
    extra = [json.dumps(versions_of(libraries), sort_keys=True)] if libraries else []
    for part in (
        component.name,
        str(getattr(component, "version", 1)),
        code_digest(component),
        json.dumps(library_versions(), sort_keys=True),
        config_json(config),
        json.dumps(dict(sorted(input_fingerprints.items()))),
        source,
        json.dumps(dict(sorted((resolved_fingerprints or {}).items()))),
        *extra,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]
