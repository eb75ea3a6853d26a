"""Helpers for ingest_text tests: run the executor like the runner does, read its outputs."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from seqline.components.ingest_text.component import COMPONENT
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.pipeline.artifact import Artifact, ArtifactType
from tests.components.context import make_context


def run_component(
    tmp_path: Path, config: IngestTextConfig, name: str = "out", **ctx_fields: object
) -> tuple[dict, Artifact, Artifact]:
    """Runs the executor like the runner does: fresh empty output dirs and a scratch dir."""
    base = tmp_path / name
    outputs = {
        "examples": Artifact(ArtifactType.EXAMPLES, str(base / "examples"), "fp-examples"),
        "rejected": Artifact(ArtifactType.REJECTED, str(base / "rejected"), "fp-rejected"),
    }
    for artifact in outputs.values():
        os.makedirs(artifact.uri)
    (base / "tmp").mkdir()
    ctx = make_context(
        config=config, inputs={}, outputs=outputs, temp_dir=str(base / "tmp"), **ctx_fields
    )
    summary = COMPONENT.executor(ctx)
    return dict(summary), outputs["examples"], outputs["rejected"]


def read_examples(uri: str, split: str) -> list[tuple[str, str]]:
    """(text, label) of every tf.Example in `{uri}/{split}/data-*-of-*.tfrecord.gz`."""
    import tensorflow as tf

    files = sorted(glob.glob(f"{uri}/{split}/data-*-of-*.tfrecord.gz"))
    assert files, f"no TFRecord shards for split {split!r} in {uri}"
    out = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        assert sorted(example.features.feature) == ["label", "text"]
        feature = example.features.feature
        out.append(
            (
                feature["text"].bytes_list.value[0].decode(),
                feature["label"].bytes_list.value[0].decode(),
            )
        )
    return out


def read_rejections(uri: str) -> list[dict]:
    lines = []
    for path in sorted(glob.glob(f"{uri}/rejected-*.jsonl")):
        text = Path(path).read_text(encoding="utf-8")
        lines += [json.loads(line) for line in text.splitlines() if line.strip()]
    return lines


@pytest.fixture
def run_ingest(tmp_path: Path) -> Callable[..., tuple[dict, Artifact, Artifact]]:
    """run_ingest(config, name="out", **ctx_fields) -> (summary, examples, rejected)."""

    def run(config: IngestTextConfig, name: str = "out", **ctx_fields: object):
        return run_component(tmp_path, config, name, **ctx_fields)

    return run


@pytest.fixture(name="read_examples")
def read_examples_fixture() -> Callable[[str, str], list[tuple[str, str]]]:
    return read_examples


@pytest.fixture(name="read_rejections")
def read_rejections_fixture() -> Callable[[str], list[dict]]:
    return read_rejections
