"""Builds frozen config dataclasses from plain mappings (parsed YAML), checking types.

Every error names the field path (e.g. `components.train.units`), what was expected and what was
received. Supported field types: str, int, float, bool, Literal[...], tuple[X, ...],
tuple[X, Y], X | None, dict[str, X], and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from seqline.pipeline.errors import ConfigError

T = TypeVar("T")
# A decimal number as a person writes it (1e-3, 2.5E4, .5): YAML 1.1 reads some as text.
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} items"
    if origin in (dict, Mapping):
        return f"a mapping of str to {_type_name(get_args(tp)[1])}"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _yaml_hint(tp: Any, value: Any) -> str:
    """Why YAML 1.1 gave `value` where a `tp` was expected, and how to write it, for the two
    readings that surprise: `1e-3` is text (a float needs a dot and a signed exponent), and
    yes/no/on/off are booleans."""
    if tp is float and isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value)
        mantissa, _, exponent = value.strip().lower().partition("e")
        sign = "" if exponent[:1] in "+-" else "+"
        dotted = mantissa if "." in mantissa else f"{mantissa}.0"
        written = f"{dotted}e{sign}{exponent}" if exponent else dotted
        return (
            f"; YAML 1.1 reads {value!r} as text: write {written} (a dot and a signed "
            f"exponent) or {number!r}"
        )
    if tp is str and isinstance(value, bool):
        return (
            "; YAML reads unquoted yes/no, on/off and true/false as booleans: quote the "
            'value ("no", "yes") to keep it as text'
        )
    return ""


def convert(tp: Any, value: Any, path: str) -> Any:
    """Converts `value` (from YAML) to type `tp`, or raises ConfigError naming `path`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1 and dataclasses.is_dataclass(options[0]):
            # An optional nested config: its own error (which field, what to fix) says more
            # than "expected a mapping or null".
            return convert(options[0], value, path)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, path)
            except ConfigError:
                continue
        hint = next((h for h in (_yaml_hint(a, value) for a in options) if h), "")
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}{hint}")
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {len(value)} items")
        return tuple(
            convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")
        _key_type, value_type = get_args(tp)
        return {str(k): convert(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(
        f"{path}: expected {_type_name(tp)}, got {_describe(value)}{_yaml_hint(tp, value)}"
    )


def build_dataclass(cls: type[T], data: Any, path: str) -> T:
    """Builds dataclass `cls` from mapping `data`; unknown keys, missing required fields and
    wrong types raise ConfigError naming `path.field`. The dataclass's own __post_init__ checks
    (ConfigError) get the path prefixed too."""
    if data is None:
        data = {}
    at = f"{path}: " if path else ""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{at}expected a mapping ({cls.__name__}), got {_describe(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise ConfigError(
            f"{at}unknown field(s) {unknown}; {cls.__name__} accepts {sorted(fields)}"
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        field_path = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = convert(hints[name], data[name], field_path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"{field_path}: required field is missing (expected {_type_name(hints[name])})"
            )
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(f"{path}.{message}" if path else message) from None
