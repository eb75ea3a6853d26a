"""Helpers for transform tests: hand-written raw Examples artifacts and runs of the component.

- ``write_examples(uri, splits, labels)``: writes `{uri}/{split}/data-00000-of-00001.tfrecord.gz`
  (gzip tf.Example with bytes "text" and "label") for {split: [(text, label), ...]} and returns
  the Examples Artifact with the contract's properties.
- ``read_transformed(uri, split)``: [(tokens list, label_id)] in file order.
- ``run_transform(tmp_path, examples, config)``: runs the executor like the runner does and
  returns (summary, transform_graph Artifact, transformed_examples Artifact).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqline.pipeline.artifact import Artifact, ArtifactType
from tests.components.context import make_context


def write_examples(
    uri: str | Path,
    splits: Mapping[str, Sequence[tuple[str, str]]],
    labels: Sequence[str],
) -> Artifact:
    """Writes a raw Examples artifact; rows are (text, label name)."""
    import tensorflow as tf

    for split, rows in splits.items():
        os.makedirs(f"{uri}/{split}", exist_ok=True)
        path = f"{uri}/{split}/data-00000-of-00001.tfrecord.gz"
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for text, label in rows:
                feature = {
                    "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                    "label": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[label.encode()])
                    ),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return Artifact(
        ArtifactType.EXAMPLES,
        str(uri),
        "fp-examples",
        properties={
            "splits": list(splits),
            "counts": {split: len(rows) for split, rows in splits.items()},
            "labels": list(labels),
            "rejected": 0,
            "input": sum(len(rows) for rows in splits.values()),
        },
    )


def read_transformed(uri: str, split: str) -> list[tuple[list[int], int]]:
    """(tokens, label_id) of every transformed tf.Example of one split, in file order."""
    import tensorflow as tf

    files = sorted(glob.glob(f"{uri}/{split}/data-*-of-*.tfrecord.gz"))
    assert files, f"no transformed shards for split {split!r} in {uri}"
    rows = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(raw).features.feature
        assert sorted(feature) == ["label_id", "tokens"]
        label_ids = list(feature["label_id"].int64_list.value)
        assert len(label_ids) == 1
        rows.append((list(feature["tokens"].int64_list.value), label_ids[0]))
    return rows


def run_transform(
    tmp_path: Path, examples: Artifact, config: Any, name: str = "out"
) -> tuple[dict[str, Any], Artifact, Artifact]:
    """Runs the transform executor on fresh empty output dirs, as the runner does."""
    from seqline.components.transform.text_component import COMPONENT

    base = tmp_path / name
    graph = Artifact(ArtifactType.TRANSFORM_GRAPH, str(base / "graph"), "fp-graph")
    transformed = Artifact(
        ArtifactType.TRANSFORMED_EXAMPLES, str(base / "transformed"), "fp-transformed"
    )
    for artifact in (graph, transformed):
        os.makedirs(artifact.uri)
    (base / "tmp").mkdir()
    messages: list[str] = []
    ctx = make_context(
        config=config,
        inputs={"examples": examples},
        outputs={"transform_graph": graph, "transformed_examples": transformed},
        temp_dir=str(base / "tmp"),
        progress=messages.append,
    )
    summary = dict(COMPONENT.executor(ctx))
    assert messages, "the executor should report progress"
    return summary, graph, transformed


# A four-review corpus (and two eval reviews) every n-gram test can reason about by hand.
TINY_LABELS = ["neg", "pos"]
TINY_TRAIN = [
    ("Great film, great cast.", "pos"),
    ("A great film to see.", "pos"),
    ("Bad film, bad cast and a bad plot.", "neg"),
    ("Bad plot.", "neg"),
]
TINY_EVAL = [("great cast, bad plot", "pos"), ("unseen words only", "neg")]
