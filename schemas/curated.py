"""Structural checks of a curated schema (a file a person wrote or edited), so its mistakes
stop the schema node, or `seqline check`, instead of surfacing later as an obscure error
inside transform's TensorFlow Transform graph.

Checked, with protobuf only (no TensorFlow), so cheap enough for pre-run checks:
    - every feature has a name, and no two features share one;
    - every live (not deprecated) feature has a `type` (BYTES, INT or FLOAT): the feature spec
      transform and serving parse with needs it;
    - every `domain: "<name>"` names a domain defined at the schema level (a top-level
      `string_domain { name: ... }`, or an int_domain / float_domain of that name), and no two
      schema-level domains share a name;
    - the features a pipeline reads (e.g. the label it trains on) are described, live, in the
      TRAINING environment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from seqline.pipeline.errors import ConfigError
from seqline.schemas.feature_spec import TRAINING, expected_features, is_deprecated
from seqline.schemas.loading import load_schema, resolve_schema_path

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2


def structural_problems(schema: schema_pb2.Schema) -> list[str]:
    """What is structurally wrong with `schema`, one sentence per problem (expected, found,
    fix); [] for a sound schema."""
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    problems: list[str] = []
    unnamed = [i for i, f in enumerate(schema.feature) if not f.name]
    if unnamed:
        problems.append(
            f"feature number(s) {[i + 1 for i in unnamed]} (counting from 1): expected a "
            "`name:`, found none; name each feature after its tf.Example key"
        )
    counts = Counter(f.name for f in schema.feature if f.name)
    duplicates = sorted(name for name, n in counts.items() if n > 1)
    if duplicates:
        problems.append(
            f"feature name(s) {duplicates}: expected each feature once, found "
            f"{', '.join(f'{name!r} {counts[name]} times' for name in duplicates)}; merge the "
            "duplicate `feature { ... }` blocks into one"
        )
    for feature in schema.feature:
        if feature.name and not is_deprecated(feature) and feature.type == schema_pb2.TYPE_UNKNOWN:
            problems.append(
                f"feature '{feature.name}': expected a `type:` (BYTES, INT or FLOAT), found "
                "none; add e.g. `type: BYTES` (or mark the feature `deprecated: true`)"
            )
    domains = [d.name for d in schema.string_domain]
    others = [d.name for d in (*schema.int_domain, *schema.float_domain)]
    declared = Counter(domains + others)
    twice = sorted(name for name, n in declared.items() if n > 1)
    if twice:
        problems.append(
            f"schema-level domain name(s) {twice}: expected each domain defined once, found "
            "more than one `string_domain` / `int_domain` / `float_domain` with that name; "
            "merge their values into one"
        )
    for feature in schema.feature:
        if feature.HasField("domain") and feature.domain not in declared:
            problems.append(
                f"feature '{feature.name}': `domain: \"{feature.domain}\"` expected a "
                f"schema-level string_domain of that name, found "
                + (f"only {sorted(domains)}" if domains else "no string_domain at all")
                + f"; rename the reference (or the domain), or add `string_domain {{ name: "
                f'"{feature.domain}" value: ... }}` at the top level'
            )
    return problems


def missing_features(
    schema: schema_pb2.Schema, required: Sequence[str], environment: str = TRAINING
) -> list[str]:
    """The names in `required` that `schema` does not describe as live features of
    `environment`."""
    present = {f.name for f in expected_features(schema, environment)}
    return [name for name in required if name not in present]


def check_curated_schema(
    schema: schema_pb2.Schema,
    source: str,
    required: Sequence[str] = (),
    reason: str = "the pipeline reads them",
) -> None:
    """Raises ConfigError naming `source` (the file) and every structural problem of `schema`
    (structural_problems), and the `required` features it lacks in the TRAINING environment
    (`reason` says why they are needed)."""
    problems = structural_problems(schema)
    missing = missing_features(schema, required)
    if missing:
        described = sorted({f.name for f in schema.feature})
        problems.append(
            f"expected feature(s) {list(required)} in the TRAINING environment ({reason}), "
            f"found no live {missing} among {described}; add a `feature {{ name: "
            f'"{missing[0]}" type: BYTES ... }}` (not deprecated, not `not_in_environment: '
            '"TRAINING"`), or leave schema.curated_schema unset to infer the schema'
        )
    if len(problems) == 1:
        raise ConfigError(f"curated schema {source}: {problems[0]}")
    if problems:
        raise ConfigError(
            f"curated schema {source}: {len(problems)} problems:\n  - " + "\n  - ".join(problems)
        )


def load_curated_schema(
    path: str, required: Sequence[str] = (), reason: str = "the pipeline reads them"
) -> schema_pb2.Schema:
    """load_schema(path), then check_curated_schema on it (ConfigError naming the file)."""
    schema = load_schema(path)
    check_curated_schema(schema, resolve_schema_path(path), required, reason)
    return schema
