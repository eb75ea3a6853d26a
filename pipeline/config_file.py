"""YAML pipeline configs: validated completely before anything runs.

    name: demo                   # pipeline name (runs are grouped by it)
    kind: text                   # which pipeline to build (entry point group seqline.pipelines)
    root: runs/demo              # artifacts + metadata; relative to this file; gs://... allowed
    metadata_url: null           # SQLAlchemy URL; default sqlite file under root
    beam_args: []                # e.g. ["--direct_num_workers=2"] or a Dataflow runner
    max_parallel: 2              # independent nodes run at once (default min(2, cores))
    components:                  # one mapping per node, fields of that component's config
      ingest_text: {...}
      scrub:                     # a node whose component lives in any importable module
        component: my_team.scrub:COMPONENT
        inputs: {examples: ingest_text.examples}
        replaces: {examples: ingest_text.examples}   # downstream nodes read scrub's output
        config: {...}
      statistics: {inputs: {examples: scrub.examples}}   # or rewire one node explicitly
    parameters: {span: "2026-01-01"}   # optional defaults for run parameters (below)
    orchestration: {...}         # retries, timeouts, resources per node (seqline.orchestration)
    x-common: &common {...}      # any top-level x-NAME key is ignored: a place for YAML anchors
                                 # that real values take with `*common` or `<<: *common`

`root` is a local folder or a URL; `--root` on the command line replaces it (relative to the
working directory there). A local path in `metadata_url` (`sqlite:///meta.sqlite`) is
relative to the working directory, as SQLAlchemy reads it, not to this file: write an absolute
one (`sqlite:////srv/meta.sqlite`) or leave it out.

Run parameters: a string value may reference `${KEY}` (given with `--param KEY=VALUE`, or a
default under `parameters:`) and `${ENV:NAME}` (an environment variable); `$${` is a literal
`${`. A value that is exactly one reference takes the parameter's YAML type (`epochs: ${E}`
with E=2 is the integer 2); inside a longer string it is text. A reference to a parameter that
is neither given nor defaulted, an unset environment variable, and a given parameter the config
never uses are ConfigErrors naming the parameter and where it is (or is not) used, raised
before anything runs.

A pipeline kind is a function `build(settings: PipelineSettings) -> Pipeline`, registered as an
entry point in the `seqline.pipelines` group (see pyproject.toml), so this module never imports
a component and an extension package can add kinds of its own.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import yaml

from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.custom_nodes import apply_custom, split_components
from seqline.pipeline.dag import Pipeline
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.scheduling import check_max_parallel

ENTRY_POINT_GROUP = "seqline.pipelines"
# Top-level keys read by other layers, not by the pipeline builder.
PARAMETERS_KEY = "parameters"
ORCHESTRATION_KEY = "orchestration"
# Top-level keys starting with this are ignored (docker-compose's convention): they hold YAML
# anchors (`x-train: &train {...}`) that real values reuse.
EXTENSION_PREFIX = "x-"
# Characters Beam's file sinks read as a glob when they collect their shards: a root holding
# one makes every write fail deep inside Beam ("src and dst files do not exist").
_GLOB_CHARACTERS = "[]*?"
# ${KEY} or ${ENV:NAME}; `$${` escapes. Keys are identifiers (letters, digits, _ . -).
_REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PipelineSettings:
    """The top level of a pipeline config. `components` stays raw here: the pipeline kind's
    builder parses each entry into that component's config dataclass (naming the path)."""

    name: str
    kind: str
    root: str
    metadata_url: str | None = None
    beam_args: tuple[str, ...] = ()
    max_parallel: int | None = None
    components: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."  # directory relative paths in the config are resolved against

    def resolve_path(self, path: str) -> str:
        """Absolute form of a path from the config: URLs and absolute paths unchanged,
        relative paths against the config file's directory."""
        if "://" in path or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(path)))


def pipeline_kinds() -> dict[str, EntryPoint]:
    """Registered pipeline kinds: name -> entry point whose `.load()` gives the builder."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def top_level_keys() -> list[str]:
    """The keys a pipeline config may have at its top level (besides x-NAME ones)."""
    fields = [f.name for f in dataclasses.fields(PipelineSettings) if f.name != "base_dir"]
    return [*fields, PARAMETERS_KEY, ORCHESTRATION_KEY]


def _is_extension(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(EXTENSION_PREFIX)


def check_root(root: str) -> str:
    """`root` (already resolved) if a run can write there; ConfigError otherwise: an empty
    one, and one holding a glob character (see _GLOB_CHARACTERS)."""
    if not root.strip():
        raise ConfigError(
            f"root: expected a non-empty path (a folder, or a URL such as gs://bucket/runs), "
            f"got {root!r}"
        )
    found = sorted({c for c in root if c in _GLOB_CHARACTERS})
    if found:
        raise ConfigError(
            f"root: expected a path without the glob characters [ ] * ? (Beam's file writes "
            f"read the path as a pattern and fail), got {root!r}, which holds {found}; "
            "choose or rename a folder without them"
        )
    return root


def settings_from_mapping(data: Any, base_dir: str = ".") -> PipelineSettings:
    """Validates the top level of a config mapping (ConfigError names the field). Relative
    paths resolve against `base_dir` (the config file's folder), which the mapping itself
    cannot set."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"pipeline config: expected a mapping with name, kind, root, components; got "
            f"{type(data).__name__}"
        )
    data = {k: v for k, v in data.items() if not _is_extension(k)}
    allowed = top_level_keys()
    unknown = sorted(str(k) for k in data if str(k) not in allowed)
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {unknown}; a pipeline config has {allowed}, and keys "
            f"starting with {EXTENSION_PREFIX!r} (ignored, for YAML anchors). Check the "
            "spelling, or indent the key under the section it belongs to"
        )
    data = {k: v for k, v in data.items() if k not in (PARAMETERS_KEY, ORCHESTRATION_KEY)}
    data["base_dir"] = base_dir
    settings = build_dataclass(PipelineSettings, data, "")
    if not settings.name.strip():
        raise ConfigError("name: expected a non-empty pipeline name, got ''")
    if not settings.root.strip():
        check_root(settings.root)  # before resolving: '' would become the config's folder
    return PipelineSettings(
        name=settings.name,
        kind=settings.kind,
        root=check_root(settings.resolve_path(settings.root)),
        metadata_url=settings.metadata_url,
        beam_args=settings.beam_args,
        max_parallel=(
            None if settings.max_parallel is None else check_max_parallel(settings.max_parallel)
        ),
        components=settings.components,
        base_dir=os.path.abspath(settings.base_dir),
    )


def build_pipeline(settings: PipelineSettings) -> Pipeline:
    """Builds the Pipeline of `settings.kind` (ConfigError if that kind is unknown)."""
    kinds = pipeline_kinds()
    if settings.kind not in kinds:
        raise ConfigError(
            f"kind: expected one of {sorted(kinds)}, got {settings.kind!r}. Kinds come from the "
            f"'{ENTRY_POINT_GROUP}' entry points of installed packages (is seqline installed?)"
        )
    builder: Callable[[PipelineSettings], Pipeline] = kinds[settings.kind].load()
    # Custom nodes and rewired inputs work for every kind: the kind's builder sees only its
    # own nodes' configs, then custom_nodes adds the rest (see pipeline/custom_nodes.py).
    standard, custom, rewiring = split_components(settings.components)
    pipeline = builder(dataclasses.replace(settings, components=standard))
    if settings.max_parallel is not None:  # a runner option: every kind gets it the same way
        pipeline = dataclasses.replace(pipeline, max_parallel=settings.max_parallel)
    return apply_custom(pipeline, custom, rewiring)


def parse_param(text: str) -> tuple[str, str]:
    """`KEY=VALUE` (from `--param`) -> (KEY, VALUE); ConfigError for anything else."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _NAME.match(key):
        raise ConfigError(
            f"--param {text!r}: expected KEY=VALUE with KEY a name such as span or model.units"
        )
    return key, value


def param_text(value: str | int | float | bool) -> str:
    """A scalar run parameter as the text `--param KEY=VALUE` would give: text YAML reads back
    as the same value (True -> "true", 1e-05 -> "1.0e-05", which YAML 1.1 needs to see a
    float; a date -> "YYYY-MM-DD"). Raises TypeError for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        mantissa, e, exponent = repr(value).partition("e")
        return (mantissa if "." in mantissa else f"{mantissa}.0") + e + exponent
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def param_texts(params: Mapping[str, Any] | None, where: str = "params") -> dict[str, str]:
    """Run parameters given from Python (`load_pipeline(params=...)`, `build_dag(params=...)`,
    `compile_pipeline(params=...)`) as text, like `--param KEY=VALUE`: str, int, float, bool
    and date values are accepted (param_text). Raises TypeError naming the key for a key that
    is not a str, or a value of another type."""
    texts: dict[str, str] = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str):
            raise TypeError(
                f"{where}: expected parameter names as str, got {type(key).__name__} {key!r}"
            )
        try:
            texts[key] = param_text(value)
        except TypeError:
            raise TypeError(
                f"{where}[{key!r}]: expected a str, int, float, bool or date value (a run "
                f"parameter is text, as with --param {key}=VALUE), got "
                f"{type(value).__name__} {value!r}; pass it as a string"
            ) from None
    return texts


def default_text(value: Any) -> str:
    """A `parameters:` default as text: scalars as param_text, anything else as str()."""
    try:
        return param_text(value)
    except TypeError:
        return str(value)


def _references(value: Any, where: str) -> list[tuple[str, str]]:
    """(reference, path) for every ${...} in the string values of `value`."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.extend((m.group(2), where) for m in _REFERENCE.finditer(value) if not m.group(1))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(_references(item, f"{where}.{key}" if where else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_references(item, f"{where}[{index}]"))
    return found


def config_parameters(data: Any) -> dict[str, list[str]]:
    """Parameter name -> the config paths that reference it as `${NAME}` (`${ENV:...}`
    excluded). An orchestrator uses it to pass only the parameters a config uses."""
    used: dict[str, list[str]] = {}
    for reference, where in _references(data, ""):
        if not reference.startswith("ENV:"):
            used.setdefault(reference, []).append(where)
    return used


def _typed(text: str) -> Any:
    """The YAML scalar type of a parameter's text (int, float, bool), else the text itself: a
    date stays a string, so `source: data/${span}.csv` and `span: ${span}` read the same."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, bool | int | float) else text


def substitute_parameters(
    data: Any, params: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Any:
    """A copy of the raw config `data` with every `${KEY}` / `${ENV:NAME}` replaced.

    `params` are the run's parameters (--param), on top of the config's `parameters:`
    defaults; from Python, int, float, bool and date values are taken as their text
    (param_texts: TypeError naming the key for other types). Raises ConfigError, before
    anything runs, for: a malformed reference, a parameter neither given nor defaulted, an
    unset environment variable, and a given parameter that the config never references (a
    typo would otherwise be ignored silently)."""
    environ = os.environ if environ is None else environ
    if not isinstance(data, dict):
        return data
    defaults = data.get(PARAMETERS_KEY) or {}
    if not isinstance(defaults, dict) or not all(isinstance(k, str) for k in defaults):
        raise ConfigError(
            f"{PARAMETERS_KEY}: expected a mapping of parameter name -> default value, "
            f"got {defaults!r}"
        )
    empty = sorted(key for key, value in defaults.items() if value is None)
    if empty:  # `x:` or `x: null` would otherwise substitute the text "None"
        raise ConfigError(
            f"{PARAMETERS_KEY}: expected a default value for {empty}, got null; give one "
            '(e.g. an empty string "") or leave the parameter out of parameters: so that '
            "every run must pass --param"
        )
    params = param_texts(params)
    values = {key: default_text(value) for key, value in defaults.items()}
    values.update(params)
    body = {key: value for key, value in data.items() if key != PARAMETERS_KEY}
    used = config_parameters(body)
    for reference, where in _references(body, ""):
        name = reference[4:] if reference.startswith("ENV:") else reference
        if not _NAME.match(name):
            raise ConfigError(
                f"{where}: '${{{reference}}}' is not a parameter reference; expected ${{KEY}} or "
                "${ENV:NAME} (write $${ for a literal ${)"
            )
        if reference.startswith("ENV:") and name not in environ:
            raise ConfigError(
                f"{where}: environment variable {name} is not set (referenced as "
                f"${{ENV:{name}}}); export it before the run"
            )
    missing = sorted(name for name in used if name not in values)
    if missing:
        places = "; ".join(f"${{{name}}} in {', '.join(used[name])}" for name in missing)
        flags = " ".join(f"--param {name}=VALUE" for name in missing)
        raise ConfigError(
            f"missing run parameter(s) {missing}: {places}. Give them with {flags}, or a "
            f"default under `{PARAMETERS_KEY}:`"
        )
    unknown = sorted(set(params) - set(used))
    if unknown:
        raise ConfigError(
            f"unknown run parameter(s) {unknown}: the config references "
            f"{sorted(used) or 'no parameters'} (as ${{NAME}}); remove the --param or use it"
        )

    def replace(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: replace(item) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item) for item in value]
        if not isinstance(value, str):
            return value
        whole = _REFERENCE.fullmatch(value)
        if whole and not whole.group(1) and not whole.group(2).startswith("ENV:"):
            return _typed(values[whole.group(2)])

        def one(match: re.Match[str]) -> str:
            if match.group(1):
                return "${" + match.group(2) + "}"
            reference = match.group(2)
            if reference.startswith("ENV:"):
                return environ[reference[4:]]
            return values[reference]

        return _REFERENCE.sub(one, value)

    return replace(body)


class UniqueKeySafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader (no arbitrary objects) that refuses a key repeated in one mapping: the
    safe loader keeps the last one silently, so a second `train:` section would drop the
    first without a word. Merge keys (`<<: *defaults`) work at any depth; a key written
    beside one overrides the merged key, as YAML says."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        # Mapping nodes whose keys were checked. Flattening a merge rewrites the merged
        # node in place (its merged-in keys join its own), so each node is checked once,
        # before the first flatten_mapping that touches it. Holding the nodes (not their
        # ids) keeps an id from being reused by another node.
        self._checked: set[yaml.Node] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Checks `node`'s keys as written, then merges its `<<` keys (SafeLoader's; called
        for a mapping before it is built and, recursively, for each mapping it merges)."""
        if node not in self._checked:
            self._check_keys(node)
            self._checked.add(node)
        super().flatten_mapping(node)

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return super().construct_document(node)
        finally:
            self._checked.clear()

    def _check_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults`, merged by flatten_mapping
            key = self.construct_object(key_node)
            if not isinstance(key, Hashable):  # `? {a: 1}`: PyYAML would raise a TypeError
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found a {type(key).__name__} as a key; config keys are names such as "
                    "`train`: write the key as plain text",
                    key_node.start_mark,
                )  # fmt: skip
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found the key {key!r} twice (first on line {seen[key]}); merge the two "
                    "or remove one: YAML would keep only the last",
                    key_node.start_mark,
                )  # fmt: skip
            seen[key] = key_node.start_mark.line + 1


def read_config(
    path: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The raw config mapping of a YAML file with its run parameters substituted (see the
    module docstring; `environ` defaults to os.environ), without its top-level x-NAME keys.
    ConfigErrors name the file."""
    data = unsubstituted_config(path)
    try:
        return substitute_parameters(data, params or {}, environ)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def unsubstituted_config(path: str | os.PathLike[str]) -> Any:
    """The YAML document in the file at `path` as written (`${...}` not yet substituted),
    without its top-level x-NAME keys (so a `${NAME}` in one is no parameter reference).
    Usually a mapping; other documents are returned as they are. ConfigError, naming the
    file, for an empty file and those of parse_yaml."""
    data = parse_yaml(path)
    if data is None:
        raise ConfigError(
            f"{path}: the file is empty (or holds only comments); expected a mapping with "
            "name, kind, root, components"
        )
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not _is_extension(k)}
    return data


def parse_yaml(path: str | os.PathLike[str]) -> Any:
    """The YAML document in the file at `path`, read with UniqueKeySafeLoader. ConfigError,
    naming the file, for a file that is missing, unreadable, not UTF-8 or not valid YAML."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"pipeline config {str(path)!r} does not exist or is not a file")
    try:
        raw = config_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"pipeline config {str(path)!r} cannot be read: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: expected UTF-8 text, got the byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start} (line {line}), which UTF-8 cannot decode; save the file as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8`)"
        ) from None
    loader = UniqueKeySafeLoader(text)
    loader.name = str(path)  # marks say `in "FILE", line N` instead of "<unicode string>"
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}{_yaml_hint(exc, text)}") from None
    finally:
        loader.dispose()


def _yaml_hint(exc: yaml.YAMLError, text: str) -> str:
    """How to fix a YAML error whose line holds an unquoted `${...}` (inside `{...}` or
    `[...]` YAML reads its braces as a mapping)."""
    mark = getattr(exc, "problem_mark", None)
    lines = text.splitlines()
    if mark is None or not 0 <= mark.line < len(lines) or "${" not in lines[mark.line]:
        return ""
    return '\nA ${...} reference inside {...} or [...] must be quoted: write "${span}", not ${span}'


def store_location(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """(root, metadata_url) of the config at `path`: all `seqline runs/show --config` needs.
    Only these two values are read (and their run parameters substituted), so a mistake
    elsewhere in the config, or a run parameter only other values take, does not hide the
    store. Raises ConfigError (naming the file) when they take a parameter without a default,
    or are not a path and a URL."""
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping with name, kind, root, components; got "
            f"{type(data).__name__}"
        )
    wanted = {k: data[k] for k in ("root", "metadata_url", PARAMETERS_KEY) if k in data}
    try:
        values = substitute_parameters(wanted, {}, environ)
    except ConfigError as exc:
        raise ConfigError(
            f"{path}: {exc}. Its root or metadata_url depend on the run: name the store with "
            "--root DIR or --metadata-url URL instead of --config"
        ) from None
    root, url = values.get("root"), values.get("metadata_url")
    if not isinstance(root, str) or not root.strip():
        raise ConfigError(
            f"{path}: root: expected the pipeline root (a folder or URL), got {root!r}"
        )
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{path}: metadata_url: expected a SQLAlchemy URL, got {url!r}")
    base_dir = str(Path(path).resolve().parent)
    return PipelineSettings("", "", root, base_dir=base_dir).resolve_path(root), url


def load_pipeline(
    path: str | os.PathLike[str],
    overrides: dict[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Pipeline:
    """Reads, validates and builds the pipeline described by a YAML file.

    `overrides` replaces top-level keys (e.g. {"root": "/tmp/x"}) after reading; `params` are
    the run parameters (`--param KEY=VALUE`; from Python, int, float and bool values work
    too) its `${KEY}` references take; `environ` is what `${ENV:NAME}` reads (default
    os.environ)."""
    data = read_config(path, params, environ)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != ORCHESTRATION_KEY}
        if overrides:
            data.update(overrides)
    try:
        settings = settings_from_mapping(data, base_dir=str(Path(path).resolve().parent))
        return build_pipeline(settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
