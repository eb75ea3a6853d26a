"""The train component end to end on the tiny transformed corpus, and its SavedModel export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.components.train.config import EarlyStoppingConfig, ModelConfig, TrainTextConfig

from .conftest import VENV_PYTHON, TextArtifacts, child_env, train_context

pytestmark = pytest.mark.slow

CONFIG = TrainTextConfig(
    model=ModelConfig(units=8, embedding_dim=8),
    epochs=2,
    batch_size=8,
    learning_rate=0.01,
    early_stopping=EarlyStoppingConfig(patience=5),
)
TEXTS = ["Great fun, a brilliant film!", "awful boring plot<br />the worst", "unseenword", ""]


@dataclass
class Trained:
    summary: dict[str, Any]
    model: Any  # Artifact
    model_run: Any  # Artifact
    root: Path


@pytest.fixture(scope="module")
def trained(text_artifacts: TextArtifacts, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from seqline.components.train.text_component import COMPONENT

    root = tmp_path_factory.mktemp("train_component")
    ctx = train_context(CONFIG, text_artifacts, root)
    summary = COMPONENT.executor(ctx)
    return Trained(dict(summary), ctx.outputs["model"], ctx.outputs["model_run"], root)


def test_summary_and_model_properties(trained: Trained) -> None:
    props = trained.model.properties
    assert trained.summary["epochs_run"] == 2 == props["epochs_run"]
    assert props["labels"] == ["neg", "pos"]
    assert (props["task"], props["head"], props["strategy"]) == ("binary", "sigmoid", "default")
    # evaluate trains its linear baseline on the same split
    assert props["train_split"] == "train"
    # ...and its val_* figures are on early stopping's split (eval_split None: "eval")
    assert props["validation_split"] == "eval"
    for name, input_name in (("serving_default", "examples"), ("predict_text", "text")):
        signature = props["signatures"][name]
        assert signature["inputs"] == {input_name: "string [None]"}
        assert signature["outputs"] == {
            "probabilities": "float32 [None, 2]",
            "class_ids": "int64 [None]",
            "classes": "string [None]",
        }
    json.dumps(props)  # properties must be JSON-able


def test_model_run_holds_history_curves_and_tensorboard(trained: Trained) -> None:
    from seqline.components.train.history import read_history
    from seqline.components.train.tensorboard_logs import read_scalars

    run = Path(trained.model_run.uri)
    history = read_history(str(run / "history.csv"))
    assert history["epoch"] == [0.0, 1.0]
    assert trained.model.properties["best_val_loss"] == pytest.approx(min(history["val_loss"]))
    assert (run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    scalars = read_scalars(str(run / "tensorboard" / "train"))
    assert scalars["epoch_loss"] == pytest.approx(dict(enumerate(history["loss"])), rel=1e-5)
    assert scalars["epoch_learning_rate"][0] == pytest.approx(CONFIG.learning_rate)
    val = read_scalars(str(run / "tensorboard" / "validation"))
    assert val["epoch_loss"] == pytest.approx(dict(enumerate(history["val_loss"])), rel=1e-5)
    assert trained.model_run.properties["resumed_from_epoch"] == 0


def test_work_dir_is_removed_after_success(trained: Trained) -> None:
    assert not (trained.root / "_work" / "train" / "trainfp").exists()


def test_keras_model_holds_the_best_checkpoint(trained: Trained) -> None:
    import keras

    model = keras.models.load_model(Path(trained.model.uri) / "keras" / "model.keras")
    best = keras.models.clone_model(model)
    best.load_weights(Path(trained.model_run.uri) / "checkpoints" / "best.weights.h5")
    for a, b in zip(model.get_weights(), best.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


LOAD_SCRIPT = """
import json, sys
import tensorflow as tf
path, texts = sys.argv[1], json.loads(sys.argv[2])
loaded = tf.saved_model.load(path)
by_text = loaded.signatures["predict_text"](text=tf.constant(texts))
examples = [
    tf.train.Example(features=tf.train.Features(feature={"text": tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[t.encode()]))})).SerializeToString()
    for t in texts
]
by_example = loaded.signatures["serving_default"](examples=tf.constant(examples))
print(json.dumps({
    "text": {k: v.numpy().tolist() for k, v in by_text.items() if k != "classes"},
    "classes": [c.decode() for c in by_text["classes"].numpy()],
    "example": by_example["probabilities"].numpy().tolist(),
    "modules": sorted(
        m for m in ("tensorflow_transform", "tf_keras", "seqline") if m in sys.modules
    ),
}))
"""


def test_export_predicts_in_a_process_with_only_tensorflow(
    trained: Trained, text_artifacts: TextArtifacts
) -> None:
    import keras
    import tensorflow as tf
    import tensorflow_transform as tft

    saved_model = str(Path(trained.model.uri) / "saved_model")
    child = subprocess.run(
        [VENV_PYTHON, "-c", LOAD_SCRIPT, saved_model, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=os.path.dirname(saved_model),
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    assert out["modules"] == []  # neither TFT, tf_keras nor seqline was needed

    # The same texts through the TFT graph and the Keras model, in this process.
    tokens = tft.TFTransformOutput(text_artifacts.transform_graph.uri).transform_raw_features(
        {"text": tf.constant(TEXTS)}
    )["tokens"]
    model = keras.models.load_model(Path(trained.model.uri) / "keras" / "model.keras")
    p = np.asarray(model({"tokens": tokens}, training=False))[:, 0]
    expected = np.stack([1 - p, p], axis=1)

    probabilities = np.array(out["text"]["probabilities"])
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(out["example"]), probabilities, rtol=1e-6)
    assert out["text"]["class_ids"] == expected.argmax(axis=1).tolist()
    assert out["classes"] == [["neg", "pos"][i] for i in out["text"]["class_ids"]]


def test_export_loads_as_tf_serving_loads_it(trained: Trained) -> None:
    """In a TF1 Session, as tensorflow_model_server loads it: no Keras variable left
    unrestored (session_restorable.py), same outputs as the TF2 signatures."""
    from .session_loading import assert_serves_from_a_session

    texts = np.array([t.encode() for t in TEXTS], dtype=object)
    assert_serves_from_a_session(
        str(Path(trained.model.uri) / "saved_model"), {"predict_text": {"text": texts}}
    )


def test_component_module_imports_without_tensorflow() -> None:
    code = (
        "import sys; import seqline.components.train.text_component as c; "
        "heavy = [m for m in ('tensorflow', 'keras', 'tensorflow_transform', 'apache_beam') "
        "if m in sys.modules]; print(heavy); assert c.COMPONENT.name == 'train_text'"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"
