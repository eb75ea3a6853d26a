"""transform reads its raw feature spec from the validated schema input (issue 6): the raw
schema it writes, which serving parses requests with, is the schema's TRAINING spec."""

from __future__ import annotations

import os

import pytest

from seqline.components.transform.config import TransformTextConfig
from seqline.components.transform.text_component import COMPONENT
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.component import ExecutionContext
from seqline.pipeline.errors import ConfigError
from seqline.schemas.loading import load_schema, write_schema
from tests.components.context import make_context
from tests.components.statistics.helpers import write_examples


def _schema_artifact(tmp_path, drop: str | None = None) -> Artifact:
    schema = load_schema("builtin:text_classification")
    extra = schema.feature.add(name="source_id", type=2)  # INT
    extra.presence.min_fraction = 1.0
    extra.shape.SetInParent()
    if drop:
        kept = [f for f in schema.feature if f.name != drop]
        del schema.feature[:]
        schema.feature.extend(kept)
    uri = tmp_path / f"schema-{drop}"
    os.makedirs(uri)
    write_schema(schema, str(uri))
    return Artifact(ArtifactType.SCHEMA, str(uri), "fp-schema")


def _ctx(tmp_path, schema: Artifact) -> ExecutionContext:
    records = [
        {"text": f"a {'good' if i % 2 else 'bad'} film", "label": "pos" if i % 2 else "neg",
         "source_id": i}
        for i in range(20)
    ]  # fmt: skip
    examples = write_examples(tmp_path / "examples", {"train": records}, labels=["neg", "pos"])
    outputs = {
        "transform_graph": Artifact(ArtifactType.TRANSFORM_GRAPH, str(tmp_path / "g"), "fp"),
        "transformed_examples": Artifact(
            ArtifactType.TRANSFORMED_EXAMPLES, str(tmp_path / "t"), "fp"
        ),
    }
    for artifact in outputs.values():
        os.makedirs(artifact.uri)
    os.makedirs(tmp_path / "tmp")
    return make_context(
        config=TransformTextConfig(vocab_size=50, max_tokens=8),
        inputs={"examples": examples, "schema": schema},
        outputs=outputs,
        temp_dir=str(tmp_path / "tmp"),
    )


def test_schema_without_text_is_refused_before_running(tmp_path) -> None:
    ctx = _ctx(tmp_path, _schema_artifact(tmp_path, drop="text"))
    with pytest.raises(ConfigError, match=r"describe features \['text', 'label'\]"):
        COMPONENT.executor(ctx)


@pytest.mark.slow
def test_raw_schema_written_is_the_validated_schemas_spec(tmp_path) -> None:
    import tensorflow as tf
    import tensorflow_transform as tft

    ctx = _ctx(tmp_path, _schema_artifact(tmp_path))
    COMPONENT.executor(ctx)
    output = tft.TFTransformOutput(ctx.outputs["transform_graph"].uri)
    assert output.raw_feature_spec() == {
        "text": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.string),
        "source_id": tf.io.FixedLenFeature([], tf.int64),
    }
