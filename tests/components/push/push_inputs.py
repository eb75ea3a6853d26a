"""Inputs for push tests without TensorFlow: SavedModel-shaped directories and the Model /
Blessing artifacts the train and evaluate contracts describe."""

from __future__ import annotations

import json
import os
from pathlib import Path

from seqline.pipeline.artifact import Artifact, ArtifactType

MODEL_FINGERPRINT = "model-fp-1"


def write_fake_saved_model(directory: Path, shards: int = 2, shard_bytes: int = 4096) -> Path:
    """Writes a SavedModel-shaped directory of random bytes; returns it."""
    (directory / "variables").mkdir(parents=True)
    (directory / "assets").mkdir()
    (directory / "saved_model.pb").write_bytes(os.urandom(512))
    (directory / "fingerprint.pb").write_bytes(os.urandom(32))
    (directory / "variables" / "variables.index").write_bytes(os.urandom(256))
    for i in range(shards):
        name = f"variables.data-{i:05d}-of-{shards:05d}"
        (directory / "variables" / name).write_bytes(os.urandom(shard_bytes))
    (directory / "assets" / "vocab.txt").write_text("the\nmovie\ngood\n")
    return directory


def tree_bytes(directory: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file below `directory`."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def model_artifact(model_uri: Path, fingerprint: str = MODEL_FINGERPRINT) -> Artifact:
    return Artifact(
        type_name=ArtifactType.MODEL,
        uri=str(model_uri),
        fingerprint=fingerprint,
        properties={"labels": ["neg", "pos"], "task": "binary"},
    )


def blessing_artifact(
    directory: Path, blessed: bool, reasons: list[str], model_fingerprint: str = MODEL_FINGERPRINT
) -> Artifact:
    """A Blessing artifact per the contract: the verdict in its properties, evidence files."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "checks.json").write_text(json.dumps({"checks": []}))
    (directory / "metrics.json").write_text("{}")
    return Artifact(
        type_name=ArtifactType.BLESSING,
        uri=str(directory),
        fingerprint="blessing-fp",
        properties={
            "blessed": blessed,
            "reasons": reasons,
            "metrics": {},
            "model_fingerprint": model_fingerprint,
        },
    )


def infra_blessing_artifact(
    directory: Path,
    blessed: bool = True,
    reasons: list[str] | None = None,
    model_fingerprint: str = MODEL_FINGERPRINT,
    saved_model: Path | None = None,
) -> Artifact:
    """An InfraBlessing artifact per the infra_validate contract; `saved_model` (optional) is
    copied in as the model copy push ships."""
    import shutil

    reasons = reasons or (["served and answered"] if blessed else ["model did not load"])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "infra_blessing.json").write_text(json.dumps({"reasons": reasons, "details": {}}))
    if saved_model is not None:
        shutil.copytree(saved_model, directory / "saved_model")
    return Artifact(
        type_name=ArtifactType.INFRA_BLESSING,
        uri=str(directory),
        fingerprint="infra-fp",
        properties={"blessed": blessed, "reasons": reasons, "model_fingerprint": model_fingerprint},
    )


def write_times_model(directory: Path, w: float) -> Path:
    """A real SavedModel: "serving_default" maps x float32 [n] to y = w * x (a variable), so
    tests can tell which version answered by the output."""
    import tensorflow as tf

    class Times(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(float(w))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self.w * x}

    module = Times()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    return directory
