"""Reading and writing tensorflow_metadata Schema files (the .pbtxt TFDV writes and reads).

A schema file is text format (`schema.pbtxt`, what a person curates and commits) or binary
(`*.pb`). Both load with `load_schema`; `write_schema` always writes text format. Local paths
use the standard library; gs:// / s3:// paths go through seqline.storage.filesystem.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from typing import TYPE_CHECKING

from seqline.pipeline.errors import ConfigError
from seqline.storage import filesystem

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2

SCHEMA_FILE = "schema.pbtxt"

# Curated schemas shipped inside the package, addressable as "builtin:<name>" in configs.
BUILTIN_PREFIX = "builtin:"


def builtin_schema_path(name: str) -> str:
    """Path of a schema shipped with seqline, e.g. "text_classification" ->
    .../seqline/schemas/text_classification.pbtxt. Raises ConfigError for unknown names."""
    path = resources.files("seqline.schemas").joinpath(f"{name}.pbtxt")
    if not path.is_file():
        raise ConfigError(
            f"schema {BUILTIN_PREFIX}{name}: expected one of the schemas shipped with seqline "
            f"{builtin_schema_names()}, got {name!r}"
        )
    return str(path)


def builtin_schema_names() -> list[str]:
    """Names of the curated schemas shipped in seqline/schemas/ (without .pbtxt)."""
    folder = resources.files("seqline.schemas")
    return sorted(p.name[: -len(".pbtxt")] for p in folder.iterdir() if p.name.endswith(".pbtxt"))


def resolve_schema_path(path: str) -> str:
    """`builtin:<name>` -> the shipped file; a directory -> its schema.pbtxt; else unchanged."""
    if path.startswith(BUILTIN_PREFIX):
        return builtin_schema_path(path[len(BUILTIN_PREFIX) :])
    if not filesystem.is_remote(path) and os.path.isdir(path):
        return os.path.join(path, SCHEMA_FILE)
    return path


def _read_bytes(path: str) -> bytes:
    if filesystem.is_remote(path):
        import tensorflow as tf  # noqa: PLC0415 — only remote paths pay for TensorFlow

        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def schema_file_digest(path: str) -> str:
    """sha256 of a schema file's bytes (so editing a curated schema changes fingerprints)."""
    return hashlib.sha256(_read_bytes(resolve_schema_path(path))).hexdigest()


def parse_schema(data: bytes, source: str = "<bytes>") -> schema_pb2.Schema:
    """A Schema from text-format or binary bytes. Raises ConfigError naming `source` and the
    parser's complaint (line and column for text format)."""
    from google.protobuf import text_format  # noqa: PLC0415
    from google.protobuf.message import DecodeError  # noqa: PLC0415
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    schema = schema_pb2.Schema()
    binary = source.endswith(".pb")
    try:
        if binary:
            schema.ParseFromString(data)
        else:
            text_format.Parse(data.decode("utf-8"), schema)
    except (text_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
        kind = "binary" if binary else "text-format (.pbtxt)"
        raise ConfigError(
            f"schema {source}: expected a {kind} tensorflow_metadata Schema, but it does not "
            f"parse: {exc}; fix the file (field names as in tensorflow_metadata schema.proto) "
            "or regenerate it from the schema component's inferred schema.pbtxt"
        ) from None
    return schema


def load_schema(path: str) -> schema_pb2.Schema:
    """Loads a Schema from a .pbtxt / .pb file, a folder holding schema.pbtxt, or
    `builtin:<name>`. Raises ConfigError when the file is missing or does not parse."""
    resolved = resolve_schema_path(path)
    if not filesystem.exists(resolved):
        raise ConfigError(
            f"schema: expected a schema file at {resolved!r}, but it does not exist; point "
            "curated_schema at a .pbtxt file, or leave it unset to infer one from statistics"
        )
    return parse_schema(_read_bytes(resolved), resolved)


def schema_to_text(schema: schema_pb2.Schema) -> str:
    """The text format a person reads and curates."""
    from google.protobuf import text_format  # noqa: PLC0415

    return text_format.MessageToString(schema)


def write_schema(schema: schema_pb2.Schema, directory: str) -> str:
    """Writes `{directory}/schema.pbtxt`; returns its path."""
    path = filesystem.join(directory, SCHEMA_FILE)
    filesystem.write_text(path, schema_to_text(schema))
    return path
