"""infra_validate: the candidate served from a child `seqline serve` process, canaries over
gRPC, warmup records written into the copy push ships; failures are recorded, not raised."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from seqline.components.infra_validate.component import COMPONENT, InfraValidateConfig
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.serving.deploy.warmup import read_warmup_requests
from tests.components.context import make_context
from tests.components.evaluate.keyword_model import (
    BINARY_KEYWORDS,
    BINARY_LABELS,
    make_corpus,
    make_model_artifact,
    write_examples,
)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    rows = make_corpus(20, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=5)
    return write_examples(str(tmp_path_factory.mktemp("examples")), {"eval": rows}, shards=1)


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """The keyword model, saved once (a SavedModel save costs about a second); tests copy it."""
    directory = str(tmp_path_factory.mktemp("keyword_model"))
    return make_model_artifact(directory, BINARY_LABELS, BINARY_KEYWORDS)


def _model(tmp_path: Path, keyword_model: Artifact) -> Artifact:
    """A fresh copy of the keyword model's artifact under tmp_path/model (tests change it)."""
    shutil.copytree(keyword_model.uri, tmp_path / "model")
    return dataclasses.replace(
        keyword_model, uri=str(tmp_path / "model"), properties=dict(keyword_model.properties)
    )


def _run(
    tmp_path: Path, model: Artifact, examples: Artifact, ctx_extra: dict | None = None, **config
) -> tuple[dict, Artifact]:
    out = tmp_path / "infra"
    out.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    infra = Artifact(type_name=ArtifactType.INFRA_BLESSING, uri=str(out), fingerprint="i")
    ctx = make_context(
        config=InfraValidateConfig(canary_examples=12, canary_batch_size=5, **config),
        inputs={"model": model, "examples": examples},
        outputs={"infra_blessing": infra},
        **{"temp_dir": str(scratch), **(ctx_extra or {})},
    )
    summary = dict(COMPONENT.executor(ctx))
    json.dumps(summary)
    return summary, infra


def _save_keyword_module(
    export_dir: str, probabilities_of: Any, class_dtype: Any, held: Any = None
) -> None:
    """Saves a tf.Module with the keyword model's two signatures whose probabilities are
    `probabilities_of(keyword counts [B, K])` and class ids `class_dtype`; `held` (e.g. a Keras
    model) is kept as an attribute of the module."""
    import tensorflow as tf

    class KeywordModule(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            if held is not None:
                self.held = held

        def _predict(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            words = tf.strings.split(tf.strings.lower(text))
            counts = tf.stack(
                [tf.reduce_sum(tf.cast(tf.equal(words, k), tf.float32), axis=1)
                 for k in BINARY_KEYWORDS], axis=1)  # fmt: skip
            probabilities = probabilities_of(counts)
            class_ids = tf.argmax(probabilities, axis=1, output_type=class_dtype)
            classes = tf.gather(tf.constant(list(BINARY_LABELS)), class_ids)
            return {"probabilities": probabilities, "class_ids": class_ids, "classes": classes}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            text = tf.io.parse_example(examples, {"text": tf.io.FixedLenFeature([], tf.string)})
            return self._predict(text["text"])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            return self._predict(text)

    module = KeywordModule()
    tf.saved_model.save(
        module,
        export_dir,
        signatures={"serving_default": module.serve_examples, "predict_text": module.serve_text},
    )


def _nan_model(export_dir: str) -> None:
    """Loads and serves, but breaks the contract: probabilities divided by zero (inf, or NaN
    for texts without a keyword) and int32 class ids."""
    import tensorflow as tf

    _save_keyword_module(
        export_dir,
        lambda counts: counts / tf.reduce_sum(counts * 0.0, axis=1, keepdims=True),
        tf.int32,
    )


@pytest.mark.slow
def test_good_model_is_infra_blessed_and_its_copy_carries_warmup_records(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    model = _model(tmp_path, keyword_model)
    summary, infra = _run(tmp_path, model, examples)

    assert summary["blessed"] is True, infra.properties["reasons"]
    assert summary["canary_requests"] == 6  # 12 canaries in batches of 5, two signatures
    assert infra.properties["blessed"] is True
    document = json.loads((Path(infra.uri) / "infra_blessing.json").read_text())
    assert document["details"]["p99_ms"] > 0 and document["details"]["latency_requests"] == 50
    assert infra.properties["model_fingerprint"] == model.fingerprint
    # The copy push ships: the model plus warmup records a server accepts (checked against the
    # SavedModel's signatures): batch 1 and batch 5 for each of the two signatures.
    copy = Path(infra.uri) / "saved_model"
    logs = read_warmup_requests(str(copy))
    assert infra.properties["warmup_records"] == len(logs) == 4
    assert sorted({log.predict_log.request.model_spec.signature_name for log in logs}) == [
        "predict_text",
        "serving_default",
    ]
    assert (Path(infra.uri) / "server.log").exists()


@pytest.mark.slow
@pytest.mark.parametrize("spare_dies", [False, True])
def test_a_prestarted_server_is_used_or_replaced_and_always_removed(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact, spare_dies: bool
) -> None:
    """The runner hands infra_validate a child started while train exported
    (ExecutionContext.prestarted). It serves the candidate when alive; a dead one is replaced by
    a fresh launch. Either way the verdict is the same and the spare's directory is gone."""
    from seqline.components.infra_validate.component import prestart

    model = _model(tmp_path, keyword_model)
    spare = prestart(InfraValidateConfig())
    if spare_dies:
        spare.server.process.kill()
        spare.server.process.wait()
    messages: list[str] = []
    summary, infra = _run(
        tmp_path, model, examples, {"prestarted": spare, "progress": messages.append}
    )

    assert summary["blessed"] is True, infra.properties["reasons"]
    used = any("started while train exported" in m for m in messages)
    launched = any(m == "starting the model server in a child process" for m in messages)
    assert (used, launched) == (not spare_dies, spare_dies), messages
    assert not spare.alive and not Path(spare.work_dir).exists()
    assert "candidate" in (Path(infra.uri) / "server.log").read_text()


@pytest.mark.slow
def test_a_remote_scratch_directory_is_not_where_the_server_runs(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    """With a gs:// or s3:// pipeline root the node's scratch directory is remote; the child
    server (which opens its log and scans its base path locally) lives in a local temporary
    directory either way. TensorFlow's ram:// file system stands in for the remote one."""
    model = _model(tmp_path, keyword_model)
    summary, infra = _run(tmp_path, model, examples, {"temp_dir": "ram://infra-scratch"})
    assert summary["blessed"] is True, infra.properties["reasons"]
    assert "candidate" in (Path(infra.uri) / "server.log").read_text()


@pytest.mark.slow
def test_model_with_nan_and_wrong_dtype_outputs_is_a_recorded_failure(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    model = _model(tmp_path, keyword_model)
    shutil.rmtree(Path(model.uri) / "saved_model")
    _nan_model(str(Path(model.uri) / "saved_model"))
    summary, infra = _run(tmp_path, model, examples, p99_latency_ms=0.001)

    assert summary["blessed"] is False
    assert infra.properties["blessed"] is False
    reasons = infra.properties["reasons"]
    assert any("probabilities not finite" in r for r in reasons), reasons
    assert any("class_ids expected int64 [5], got int32" in r for r in reasons), reasons
    assert any("p99 latency" in r and "exceeds the budget 0.001 ms" in r for r in reasons)


def test_model_that_cannot_load_is_a_recorded_failure_not_a_crash(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    model = _model(tmp_path, keyword_model)
    for shard in (Path(model.uri) / "saved_model" / "variables").glob("variables.data-*"):
        shard.write_bytes(b"\0" * 3)
    summary, infra = _run(tmp_path, model, examples)
    assert summary["blessed"] is False
    (reason,) = infra.properties["reasons"]
    assert reason.startswith("SavedModel cannot run in-process:")
    assert json.loads((Path(infra.uri) / "infra_blessing.json").read_text())["reasons"] == [reason]


def _keras_held_the_old_way(export_dir: str) -> None:
    """The keyword model's contract through a Keras 3 layer held by a tf.Module as an
    attribute: the export TF2 loaders run and tensorflow_model_server cannot (its Session
    restore leaves the Keras variables unrestored; components/train/session_restorable.py)."""
    import keras
    import tensorflow as tf

    head = keras.Sequential([keras.Input((len(BINARY_KEYWORDS),)), keras.layers.Dense(2)])
    _save_keyword_module(
        export_dir, lambda counts: tf.nn.softmax(head(counts)), tf.int64, held=head
    )


@pytest.mark.slow
def test_a_model_tensorflow_model_server_could_not_run_is_not_blessed(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    model = _model(tmp_path, keyword_model)
    shutil.rmtree(Path(model.uri) / "saved_model")
    _keras_held_the_old_way(str(Path(model.uri) / "saved_model"))
    summary, infra = _run(tmp_path, model, examples, load_timeout_seconds=60)
    assert summary["blessed"] is False
    reasons = " ".join(infra.properties["reasons"])
    assert "unrestored" in reasons or "tensorflow_model_server could not run" in reasons, reasons
