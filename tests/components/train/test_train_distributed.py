"""Multi-replica training for real on CPU: 2 logical CPU devices under MirroredStrategy, and 2
worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy (tf_keras, see strategy.py).
No speed-up is expected on 2 cores; these check that the paths work and give sane models."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.config import (
    EarlyStoppingConfig,
    ModelConfig,
    TrainTextConfig,
    to_json,
)

from .conftest import VENV_PYTHON, TextArtifacts, child_env, train_context

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("train_child.py")
REPO = Path(__file__).resolve().parents[3]
TEXTS = ["great fun brilliant best film", "awful boring worst plot dull"]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def predict(saved_model: str, texts: list[str]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    out = tf.saved_model.load(saved_model).signatures["predict_text"](text=tf.constant(texts))
    return {k: v.numpy() for k, v in out.items()}


def test_mirrored_over_two_logical_cpus(text_artifacts: TextArtifacts, tmp_path: Path) -> None:
    config = TrainTextConfig(
        # Stacking and Bidirectional are covered by test_train_models; keep the graph small.
        model=ModelConfig(layer="gru", units=8, embedding_dim=8, head="softmax"),
        epochs=2,
        batch_size=8,
        learning_rate=0.01,
        distribution="mirrored",
        early_stopping=EarlyStoppingConfig(patience=10),
    )
    child = subprocess.run(
        [
            VENV_PYTHON,
            str(CHILD),
            "--transform-graph",
            text_artifacts.transform_graph.uri,
            "--transformed-examples",
            text_artifacts.transformed_examples.uri,
            "--root",
            str(tmp_path),
            "--config-json",
            to_json(config),
            "--logical-cpus",
            "2",
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=600,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = last_json_line(child.stdout)
    props = result["model"]["properties"]
    assert (props["strategy"], props["replicas"], props["head"]) == ("mirrored", 2, "softmax")
    final = result["model_run"]["properties"]["final"]
    # Sane: better than chance (ln 2 = 0.693) on this easy corpus.
    assert final["val_accuracy"] > 0.8 and final["loss"] < 0.6
    out = predict(str(Path(result["model"]["uri"]) / "saved_model"), TEXTS)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert [c.decode() for c in out["classes"]] == ["pos", "neg"]


def test_two_workers_on_localhost(
    text_artifacts: TextArtifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker 0 (the chief) is the component's executor, run as the pipeline runner runs it
    (in this process, where TensorFlow is already initialised, so it trains in a fresh child);
    worker 1 is `python -m seqline.components.train.worker` as on another host."""
    from seqline.components.train.text_component import COMPONENT

    config = TrainTextConfig(
        model=ModelConfig(units=8, embedding_dim=8),
        epochs=2,
        batch_size=8,
        learning_rate=0.01,
        early_stopping=EarlyStoppingConfig(patience=10),
    )
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}

    def tf_config(index: int) -> str:
        return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})

    root = tmp_path / "root"
    ctx = train_context(config, text_artifacts, root, fingerprint="mwfp")
    other = subprocess.Popen(
        [
            VENV_PYTHON,
            "-m",
            "seqline.components.train.worker",
            "--component",
            "train_text",
            "--transform-graph",
            text_artifacts.transform_graph.uri,
            "--transformed-examples",
            text_artifacts.transformed_examples.uri,
            "--pipeline-root",
            str(root),
            "--fingerprint",
            "mwfp",
            "--config-json",
            to_json(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(TF_CONFIG=tf_config(1)),
        cwd=str(tmp_path),
    )
    try:
        monkeypatch.setenv("TF_CONFIG", tf_config(0))
        monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
        summary = COMPONENT.executor(ctx)
        stdout, stderr = other.communicate(timeout=600)
    finally:
        if other.poll() is None:
            other.kill()
    assert other.returncode == 0, stderr[-3000:]
    other_result = last_json_line(stdout)
    assert other_result["summary"] == {"chief": False, "epochs_run": 2}
    assert other_result["model_dir"] is None

    props = ctx.outputs["model"].properties
    assert summary["strategy"] == "multi_worker x2"
    assert (props["strategy"], props["trained_with"], props["replicas"]) == (
        "multi_worker",
        "tf_keras",
        2,
    )
    assert props["epochs_run"] == 2 and props["best_val_loss"] < 0.6
    # The chief wrote the outputs, in Keras 3 format, loadable and predicting sensibly.
    model_dir, run_dir = Path(ctx.outputs["model"].uri), Path(ctx.outputs["model_run"].uri)
    out = predict(str(model_dir / "saved_model"), TEXTS)
    assert [c.decode() for c in out["classes"]] == ["pos", "neg"]
    import keras

    keras.models.load_model(model_dir / "keras" / "model.keras")
    assert ctx.outputs["model_run"].properties["epochs_run"] == 2
    assert (run_dir / "history.csv").is_file() and (run_dir / "training_curves.png").is_file()
    # Chief-only writes: one TensorBoard event file per run, with each epoch once.
    for tb_run in ("train", "validation"):
        assert len(list((run_dir / "tensorboard" / tb_run).glob("events.out.tfevents.*"))) == 1
    assert not (root / "_work" / "train" / "mwfp").exists()
