"""Schema files, the schema -> feature spec contract, and the schema component's three sources
(curated, previous run, inferred)."""

from __future__ import annotations

import os
import time

import pytest

from seqline.components.schema.component import COMPONENT, check, source_fingerprint
from seqline.components.schema.config import SchemaConfig
from seqline.components.statistics.statistics_files import write_statistics
from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.resolvers import ResolverQuery
from seqline.schemas import feature_spec
from seqline.schemas.loading import load_schema, schema_to_text
from seqline.schemas.text import raw_feature_spec as text_spec
from tests.components.context import make_context
from tests.components.statistics.helpers import direct_statistics


def test_feature_spec_matches_tft_and_environments() -> None:
    import tensorflow as tf
    from tensorflow_transform.tf_metadata import schema_utils

    schema = load_schema("builtin:text_classification")
    training = feature_spec.raw_feature_spec(schema, feature_spec.TRAINING)
    assert training == schema_utils.schema_as_feature_spec(schema).feature_spec
    assert (
        training
        == text_spec()
        == {
            "text": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.string),
        }
    )
    assert feature_spec.raw_feature_spec(schema, feature_spec.SERVING) == text_spec(False)

    varlen = schema.feature.add(name="tags", type=1)  # BYTES, no shape
    varlen.value_count.min = 0
    assert feature_spec.raw_feature_spec(schema)["tags"] == tf.io.VarLenFeature(tf.string)
    optional = schema.feature.add(name="score", type=3)  # FLOAT, shape but optional
    optional.shape.SetInParent()
    optional.presence.min_fraction = 0.5
    with pytest.raises(ConfigError, match="schema feature 'score': a fixed shape needs"):
        feature_spec.raw_feature_spec(schema)


def test_curated_schema_is_checked_and_fingerprinted(tmp_path) -> None:
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature { name: "text" type: BYTES }\n')
    config = SchemaConfig(curated_schema=str(path))
    check(config)
    before = source_fingerprint(config)
    path.write_text('feature { name: "text" type: BYTES shape {} }\n')
    assert source_fingerprint(config) != before  # editing the file re-runs the node
    path.write_text('feature { name: "text" typo: BYTES }\n')
    with pytest.raises(ConfigError, match=r"does not parse: .*typo"):
        check(config)
    with pytest.raises(ConfigError, match="does not exist"):
        check(SchemaConfig(curated_schema=str(tmp_path / "missing.pbtxt")))
    with pytest.raises(ConfigError, match="expected one of the schemas shipped"):
        check(SchemaConfig(curated_schema="builtin:nope"))


def _run(tmp_path, config: SchemaConfig, name: str, metadata=None, root: str = ""):
    records = [{"text": f"text {i}", "label": "ab"[i % 2]} for i in range(10)]
    stats_uri = tmp_path / f"stats-{name}"
    os.makedirs(stats_uri)
    write_statistics(direct_statistics({"train": records}), str(stats_uri))
    statistics = Artifact(
        ArtifactType.STATISTICS, str(stats_uri), f"fp-s-{name}",
        properties={"label_feature": "label"},
    )  # fmt: skip
    examples = Artifact(
        ArtifactType.EXAMPLES,
        str(tmp_path / "examples"),
        "fp-e",
        properties={"labels": ["a", "b", "c"]},
    )
    out = Artifact(ArtifactType.SCHEMA, f"{root or tmp_path}/schema/schema/{name}", name)
    os.makedirs(out.uri)
    inputs = {"statistics": statistics, "examples": examples}
    previous = None
    if metadata is not None:  # what the runner resolves for `previous_schema`
        query = ResolverQuery(metadata, "p", root, "schema", config, inputs)
        previous = COMPONENT.resolved["previous_schema"].resolve(query)
    ctx = make_context(
        config=config, inputs=inputs, outputs={"schema": out},
        node_id="schema", pipeline_root=root, resolved={"previous_schema": previous},
    )  # fmt: skip
    return dict(COMPONENT.executor(ctx)), out


def test_curated_inferred_and_reused_sources(tmp_path) -> None:
    summary, out = _run(tmp_path, SchemaConfig(curated_schema="builtin:text_classification"), "c")
    assert summary == {"source": "curated", "features": 2}
    assert load_schema(out.uri) == load_schema("builtin:text_classification")

    root = str(tmp_path / "root")
    store = MetadataStore(f"sqlite:///{tmp_path}/m.sqlite")
    summary, first = _run(tmp_path, SchemaConfig(), "first", store, root)
    assert summary == {"source": "inferred", "features": 2}
    inferred = load_schema(first.uri)
    assert 'value: "c"' in schema_to_text(inferred)  # configured labels join the label domain
    # Publish it as the runner would, then a later span reuses it instead of re-inferring.
    first.created = time.time()
    write_descriptor(first, first.uri)
    store.start_run("r1", "p")
    execution = store.start_execution("r1", "schema", "schema", "first", {})
    first_id = store.record_output(
        execution, "schema", uri=first.uri, type_name=ArtifactType.SCHEMA,
        fingerprint="first", node_id="schema", properties={}, created_at=first.created,
    )  # fmt: skip
    _validated(store, root, first_id, "first")
    summary, second = _run(tmp_path, SchemaConfig(), "second", store, root)
    assert summary == {"source": "previous", "features": 2}
    assert second.properties["origin"] == first.uri
    summary, _ = _run(tmp_path, SchemaConfig(reuse_inferred=False), "third", store, root)
    assert summary["source"] == "inferred"


def _publish(store: MetadataStore, out: Artifact, run_id: str) -> int:
    """Publishes the schema `out` as the runner would; returns its artifact id."""
    out.created = time.time()
    write_descriptor(out, out.uri)
    store.start_run(run_id, "p")
    execution = store.start_execution(run_id, "schema", "schema", out.fingerprint, {})
    return store.record_output(
        execution, "schema", uri=out.uri, type_name=ArtifactType.SCHEMA,
        fingerprint=out.fingerprint, node_id="schema", properties={}, created_at=out.created,
    )  # fmt: skip


def _validated(store: MetadataStore, root: str, schema_id: int, name: str) -> None:
    """A validate execution that took schema `schema_id` and passed (published anomalies)."""
    execution = store.start_execution(
        f"r-{name}", "validate", "validate", name, {"schema": schema_id}
    )
    uri = f"{root}/validate/anomalies/{name}"
    store.record_output(
        execution, "anomalies", uri=uri, type_name=ArtifactType.ANOMALIES,
        fingerprint=f"a-{name}", node_id="validate", properties={}, created_at=time.time(),
    )  # fmt: skip


def test_a_schema_whose_validation_blocked_is_not_reused(tmp_path) -> None:
    """A run with a wrong config (series frequency 15min on hourly data) inferred a schema,
    then validate blocked; later runs reused that schema and stayed blocked even after the
    config was fixed. Only a schema validate accepted is reused."""
    root = str(tmp_path / "root")
    store = MetadataStore(f"sqlite:///{tmp_path}/m.sqlite")
    summary, blocked = _run(tmp_path, SchemaConfig(), "blocked", store, root)
    assert summary["source"] == "inferred"
    _publish(store, blocked, "r-blocked")  # validate then blocked: no anomalies published
    summary, fixed = _run(tmp_path, SchemaConfig(), "fixed", store, root)
    assert summary["source"] == "inferred"  # not the blocked run's schema
    assert fixed.properties["origin"] is None
    fixed_id = _publish(store, fixed, "r-fixed")
    _validated(store, root, fixed_id, "fixed")
    _, again = _run(tmp_path, SchemaConfig(), "blocked-again", store, root)
    _publish(store, again, "r-blocked-again")  # newer, but blocked too
    summary, later = _run(tmp_path, SchemaConfig(), "later", store, root)
    assert summary["source"] == "previous"
    assert later.properties["origin"] == fixed.uri  # the accepted one, not the newest


def test_a_reused_schema_takes_the_configured_drift_thresholds(tmp_path) -> None:
    """With reuse_inferred on, raising schema.label_drift_threshold did nothing: the reused
    schema kept the first run's 0.2, and validate kept blocking the label's drift."""
    root = str(tmp_path / "root")
    store = MetadataStore(f"sqlite:///{tmp_path}/m.sqlite")
    _, first = _run(tmp_path, SchemaConfig(), "first", store, root)
    _validated(store, root, _publish(store, first, "r-first"), "first")
    thresholds = {f.name: f.drift_comparator for f in load_schema(first.uri).feature}
    assert thresholds["label"].infinity_norm.threshold == pytest.approx(0.2)
    assert thresholds["text"].jensen_shannon_divergence.threshold == pytest.approx(0.2)

    config = SchemaConfig(label_drift_threshold=0.5, text_drift_threshold=None)
    summary, second = _run(tmp_path, config, "second", store, root)
    assert summary["source"] == "previous"
    features = {f.name: f for f in load_schema(second.uri).feature}
    assert features["label"].drift_comparator.infinity_norm.threshold == pytest.approx(0.5)
    assert not features["text"].HasField("drift_comparator")  # None: no check
    assert not features["text"].HasField("skew_comparator")
    # The rest of the reused schema is untouched (its label domain, types, presence).
    kept = load_schema(first.uri)
    for feature in kept.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
    edited = load_schema(second.uri)
    for feature in edited.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
    assert edited == kept
