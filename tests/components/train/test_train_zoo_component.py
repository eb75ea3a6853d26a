"""A zoo model through the train component: n-gram branch beside a CNN-BiGRU with attention
pooling, spatial dropout, L2, label smoothing, balanced class weights and frozen pretrained
vectors; exported with the TFT graph and served from raw text by a TensorFlow-only process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.config import EarlyStoppingConfig, ModelConfig, TrainTextConfig

from .conftest import NEGATIVE, POSITIVE, VENV_PYTHON, TextArtifacts, child_env, train_context
from .test_train_component import LOAD_SCRIPT, TEXTS

pytestmark = pytest.mark.slow


def test_zoo_model_trains_exports_and_serves_raw_text(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    import keras
    import tensorflow as tf
    import tensorflow_transform as tft

    from seqline.components.train.text_component import COMPONENT

    vectors = tmp_path / "vectors.txt"
    rng = np.random.default_rng(0)
    vectors.write_text(
        "".join(
            f"{w} {' '.join(f'{v:.3f}' for v in rng.normal(size=8))}\n" for w in POSITIVE + NEGATIVE
        )  # fmt: skip
    )
    config = TrainTextConfig(
        model=ModelConfig(
            layer="gru",
            units=6,
            embedding_dim=8,
            bidirectional=True,
            pooling="attention",
            spatial_dropout=0.1,
            conv_filters=6,
            conv_kernel_size=3,
            ngram_branch="beside",
            ngram_dim=6,
            l2=1e-4,
            label_smoothing=0.1,
            class_weights={"balanced": 1},
            pretrained={"path": str(vectors), "trainable": False},
        ),
        epochs=2,
        batch_size=8,
        learning_rate=0.01,
        early_stopping=EarlyStoppingConfig(patience=5),
    )
    ctx = train_context(config, text_artifacts, tmp_path / "root")
    summary = COMPONENT.executor(ctx)
    assert summary["epochs_run"] == 2
    model_dir = Path(ctx.outputs["model"].uri)
    assert ctx.outputs["model"].properties["cudnn_incompatibilities"] == []

    model = keras.models.load_model(model_dir / "keras" / "model.keras")
    assert {t.name for t in model.inputs} == {"tokens", "ngrams"}
    # Frozen vectors: the embedding rows of the file's words are the file's, after training.
    vocab = tft.TFTransformOutput(text_artifacts.transform_graph.uri).vocabulary_by_name("tokens")
    row = 2 + [t.decode() for t in vocab].index("great")
    first = vectors.read_text().splitlines()[POSITIVE.index("great")].split()[1:]
    np.testing.assert_allclose(model.get_layer("embedding").get_weights()[0][row],
                               np.array(first, dtype="float32"), atol=1e-6)  # fmt: skip

    child = subprocess.run(
        [VENV_PYTHON, "-c", LOAD_SCRIPT, str(model_dir / "saved_model"), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=str(model_dir),
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    assert out["modules"] == []
    features = tft.TFTransformOutput(text_artifacts.transform_graph.uri).transform_raw_features(
        {"text": tf.constant(TEXTS)}
    )
    p = np.asarray(model({k: features[k] for k in ("tokens", "ngrams")}, training=False))[:, 0]
    np.testing.assert_allclose(
        np.array(out["text"]["probabilities"]), np.stack([1 - p, p], 1), rtol=1e-5, atol=1e-6
    )
    assert os.path.exists(model_dir / "saved_model" / "assets")  # both vocabularies travel
