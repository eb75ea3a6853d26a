"""A curated schema's structural mistakes (an undefined `domain:`, a feature twice, a feature
without a type, no label) stop the schema node, its pre-run check, and the text pipeline's
build, naming the file and the feature, instead of failing inside transform or passing."""

from __future__ import annotations

import os

import pytest

from seqline.components.schema.component import COMPONENT, check
from seqline.components.schema.config import SchemaConfig
from seqline.components.statistics.statistics_files import write_statistics
from seqline.components.text_pipeline import text_pipeline
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.errors import ConfigError
from seqline.schemas.loading import builtin_schema_path
from tests.components.context import make_context
from tests.components.statistics.helpers import direct_statistics

with open(builtin_schema_path("text_classification")) as _file:
    BUILTIN = _file.read()
LABEL_BLOCK = BUILTIN[BUILTIN.index('feature {\n  name: "label"') : BUILTIN.index("string_domain")]


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "reviews.pbtxt"
    path.write_text(text)
    return str(path)


def _refused(tmp_path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        check(SchemaConfig(curated_schema=path))
    message = str(raised.value)
    assert path in message  # the file to fix
    return message


def test_the_builtin_schema_passes() -> None:
    check(SchemaConfig(curated_schema="builtin:text_classification"))


def test_an_undefined_domain_is_refused(tmp_path) -> None:
    message = _refused(tmp_path, BUILTIN.replace('domain: "label"', 'domain: "labels"'))
    assert "feature 'label'" in message and 'domain: "labels"' in message
    assert "found only ['label']" in message  # what is defined
    assert 'string_domain { name: "labels"' in message  # how to fix


def test_a_duplicate_feature_is_refused(tmp_path) -> None:
    message = _refused(tmp_path, BUILTIN + 'feature { name: "text" type: BYTES }\n')
    assert "['text']" in message and "'text' 2 times" in message and "merge" in message


def test_a_feature_without_type_is_refused_unless_deprecated(tmp_path) -> None:
    message = _refused(tmp_path, BUILTIN + 'feature { name: "score" }\n')
    assert "feature 'score': expected a `type:`" in message
    path = _write(tmp_path, BUILTIN + 'feature { name: "score" deprecated: true }\n')
    check(SchemaConfig(curated_schema=path))


def test_every_problem_is_listed_at_once(tmp_path) -> None:
    text = BUILTIN.replace('domain: "label"', 'domain: "x"') + 'feature { name: "text" }\n'
    message = _refused(tmp_path, text)
    assert "3 problems" in message
    assert all(s in message for s in ("'text' 2 times", "feature 'text': expected", '"x"'))


def _run(tmp_path, schema_path: str, records: list[dict]) -> dict:
    stats_uri = tmp_path / "stats"
    os.makedirs(stats_uri, exist_ok=True)
    write_statistics(direct_statistics({"train": records}), str(stats_uri))
    statistics = Artifact(
        ArtifactType.STATISTICS, str(stats_uri), "fp-s", properties={"label_feature": "label"}
    )
    examples = Artifact(ArtifactType.EXAMPLES, str(tmp_path / "examples"), "fp-e")
    out = Artifact(ArtifactType.SCHEMA, str(tmp_path / "schema"), "fp")
    os.makedirs(out.uri, exist_ok=True)
    config = SchemaConfig(curated_schema=schema_path)
    inputs = {"statistics": statistics, "examples": examples}
    ctx = make_context(
        config=config, inputs=inputs, outputs={"schema": out},
        node_id="schema", resolved={"previous_schema": None},
    )  # fmt: skip
    return dict(COMPONENT.executor(ctx))


def test_the_schema_node_refuses_a_schema_without_the_data_label(tmp_path) -> None:
    unlabelled = _write(tmp_path, BUILTIN.replace(LABEL_BLOCK, ""))
    labelled = [{"text": f"text {i}", "label": "neg"} for i in range(4)]
    with pytest.raises(ConfigError) as raised:
        _run(tmp_path, unlabelled, labelled)
    message = str(raised.value)
    assert unlabelled in message and "expected feature(s) ['label']" in message
    assert "statistics.label_feature" in message and "found no live ['label']" in message
    # Data without a label (series windows): a schema without one is right.
    summary = _run(tmp_path, unlabelled, [{"text": f"text {i}"} for i in range(4)])
    assert summary == {"source": "curated", "features": 1}


def _build(tmp_path, schema: str) -> None:
    text_pipeline(
        "p",
        str(tmp_path / "root"),
        ingest_text={"source": "x.csv", "labels": ["neg", "pos"]},
        schema={"curated_schema": schema},
        evaluate={"thresholds": {"accuracy": {"lower": 0.5}}},
        push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
    )


def test_the_text_pipeline_refuses_a_curated_schema_when_built(tmp_path) -> None:
    """Before ingest runs: the label transform_text trains on, and the structural checks."""
    unlabelled = _write(tmp_path, BUILTIN.replace(LABEL_BLOCK, ""))
    with pytest.raises(ConfigError, match=r"expected feature\(s\) \['text', 'label'\]"):
        _build(tmp_path, unlabelled)
    serving_only = BUILTIN.replace('domain: "label"', 'domain: "label" in_environment: "SERVING"')
    with pytest.raises(ConfigError, match=r"found no live \['label'\]"):
        _build(tmp_path, _write(tmp_path, serving_only))
    with pytest.raises(ConfigError, match=r"'text' 2 times"):
        _build(tmp_path, _write(tmp_path, BUILTIN + 'feature { name: "text" type: BYTES }\n'))
    _build(tmp_path, "builtin:text_classification")
    # A file not written yet is the schema node's pre-run check's to report.
    _build(tmp_path, str(tmp_path / "later.pbtxt"))
