"""Fixtures: a tiny TransformGraph + TransformedExamples made by the real transform component.

The corpus is generated deterministically: "pos" reviews mix positive words, "neg" reviews
negative ones, both with shared filler words, so a tiny model learns it in a few epochs.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seqline.pipeline.artifact import Artifact, ArtifactType, read_artifact, write_descriptor
from seqline.pipeline.component import ExecutionContext
from tests.components.context import make_context

LABELS = ["neg", "pos"]
POSITIVE = ["great", "good", "excellent", "love", "wonderful", "fun", "best", "brilliant"]
NEGATIVE = ["bad", "awful", "terrible", "hate", "boring", "worst", "dull", "poor"]
FILLER = ["the", "movie", "film", "was", "plot", "actors", "a", "it", "and", "story"]
MAX_TOKENS = 12
VENV_PYTHON = sys.executable


def make_corpus(n: int, seed: int) -> list[tuple[str, str]]:
    """n (text, label) pairs, alternating labels; texts of 4-14 words with HTML/punctuation."""
    rng = random.Random(seed)
    corpus = []
    for i in range(n):
        label = LABELS[i % 2]
        words = POSITIVE if label == "pos" else NEGATIVE
        tokens = rng.choices(FILLER, k=rng.randint(2, 8)) + rng.choices(words, k=rng.randint(2, 6))
        rng.shuffle(tokens)
        corpus.append((" ".join(tokens).capitalize() + ".<br />", label))
    return corpus


def write_raw_examples(uri: Path, split: str, rows: list[tuple[str, str]]) -> None:
    import tensorflow as tf

    (uri / split).mkdir(parents=True)
    path = str(uri / split / "data-00000-of-00001.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for text, label in rows:
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "text": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[text.encode()])
                        ),
                        "label": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[label.encode()])
                        ),
                    }
                )
            )
            writer.write(example.SerializeToString())


class Killed(Exception):
    """Stands for a kill -9: raised from a progress line (or a patched step), it ends the
    training there."""


@dataclass(frozen=True)
class TextArtifacts:
    """Published-looking input artifacts (artifact.json written) for the train component."""

    transform_graph: Artifact
    transformed_examples: Artifact
    raw_eval_texts: tuple[str, ...]


@pytest.fixture(scope="session")
def text_artifacts(tmp_path_factory: pytest.TempPathFactory) -> TextArtifacts:
    """Runs ingest-shaped raw Examples through the transform component (FnApiRunner)."""
    return built_once(tmp_path_factory, "train_inputs", "tfidf")


@pytest.fixture(scope="session")
def nb_text_artifacts(tmp_path_factory: pytest.TempPathFactory) -> TextArtifacts:
    """The same corpus transformed with ngrams.weights "nb" (NB-scaled TF-IDF weights)."""
    return built_once(tmp_path_factory, "train_inputs_nb", "nb")


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, ngram_weights: str
) -> TextArtifacts:
    """build_text_artifacts(..., ngram_weights), once per test session even with pytest-xdist:
    the transform costs ~15 s, and a dozen files on every worker read the same artifacts
    (read-only). Under xdist the first worker to get here builds into a directory all workers
    share while holding a lock; the others wait and read the artifact descriptors it wrote."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build_text_artifacts(tmp_path_factory.mktemp(name), ngram_weights)
    shared = tmp_path_factory.getbasetemp().parent / name
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = shared / "eval_texts.json"
        if done.exists():
            graph = read_artifact(str(shared / "transform_graph"))
            transformed = read_artifact(str(shared / "transformed_examples"))
            assert graph is not None and transformed is not None, f"{shared}: half written"
            return TextArtifacts(graph, transformed, tuple(json.loads(done.read_text())))
        shutil.rmtree(shared, ignore_errors=True)  # what a worker that failed here left
        artifacts = build_text_artifacts(shared, ngram_weights)
        done.write_text(json.dumps(list(artifacts.raw_eval_texts)))
        return artifacts


def build_text_artifacts(root: Path, ngram_weights: str) -> TextArtifacts:
    """The transform component's outputs for make_corpus(64, seed=1) (train) and
    make_corpus(24, seed=2) (eval), n-grams weighted `ngram_weights`, under `root`."""
    from seqline.components.transform.config import TransformTextConfig
    from seqline.components.transform.text_component import COMPONENT as TRANSFORM
    from seqline.components.transform.text_features import NgramConfig

    examples_uri = root / "examples"
    splits = {"train": make_corpus(64, seed=1), "eval": make_corpus(24, seed=2)}
    for split, rows in splits.items():
        write_raw_examples(examples_uri, split, rows)
    examples = Artifact(
        ArtifactType.EXAMPLES,
        str(examples_uri),
        "examplesfp",
        properties={
            "splits": list(splits),
            "counts": {s: len(r) for s, r in splits.items()},
            "labels": LABELS,
            "rejected": 0,
            "input": sum(len(r) for r in splits.values()),
        },
    )
    graph = Artifact(ArtifactType.TRANSFORM_GRAPH, str(root / "transform_graph"), "tgfp")
    transformed = Artifact(
        ArtifactType.TRANSFORMED_EXAMPLES, str(root / "transformed_examples"), "tefp"
    )
    for artifact in (graph, transformed):
        os.makedirs(artifact.uri)
    ctx = make_context(
        # With the n-gram features too (ids and TF-IDF weights): models that do not use them
        # must ignore them (issue 11).
        config=TransformTextConfig(
            vocab_size=40,
            max_tokens=MAX_TOKENS,
            ngrams=NgramConfig(
                orders=2,
                vocab_size=300,
                frequency_threshold=1,
                max_ngrams=24,
                weights=ngram_weights,
            ),
        ),
        inputs={"examples": examples},
        outputs={"transform_graph": graph, "transformed_examples": transformed},
        temp_dir=str(root / "tmp"),
        beam_args=("--runner=FnApiRunner",),
    )
    os.makedirs(ctx.temp_dir)
    TRANSFORM.executor(ctx)
    for artifact in (graph, transformed):
        write_descriptor(artifact, artifact.uri)
    return TextArtifacts(graph, transformed, tuple(t for t, _ in splits["eval"]))


def train_context(
    config: Any,
    artifacts: TextArtifacts,
    root: Path,
    fingerprint: str = "trainfp",
) -> ExecutionContext:
    """An ExecutionContext for the train component. Like the runner, every call gets fresh
    temporary output dirs (`{root}/train/{output}/.tmp-{fingerprint}-{random}`) while the
    fingerprint stays the same, so a rerun after a kill sees the same fingerprint only."""
    outputs = {}
    attempt = uuid.uuid4().hex[:8]
    for name, type_name in (("model", ArtifactType.MODEL), ("model_run", ArtifactType.MODEL_RUN)):
        uri = root / "train" / name / f".tmp-{fingerprint}-{attempt}"
        uri.mkdir(parents=True)
        outputs[name] = Artifact(type_name, str(uri), fingerprint)
    (root / "tmp" / attempt).mkdir(parents=True)  # the runner's scratch dir exists
    return make_context(
        config=config,
        inputs={
            "transform_graph": artifacts.transform_graph,
            "transformed_examples": artifacts.transformed_examples,
        },
        outputs=outputs,
        node_id="train",
        pipeline_root=str(root),
        temp_dir=str(root / "tmp" / attempt),
    )


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python process: quiet TF logs, no TF_CONFIG, and no
    TF_USE_LEGACY_KERAS (importing tensorflow_transform in the test process sets it, and a
    child would then load tf_keras as tf.keras)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TF_USE_LEGACY_KERAS")}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}, **extra)
    return env
