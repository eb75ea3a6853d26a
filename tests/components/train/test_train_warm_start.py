"""Warm start of train_text from the last blessed model: what counts as compatible (pure), and
the component warm starting, refusing, or falling back to training from scratch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.config import EarlyStoppingConfig, ModelConfig, TrainTextConfig
from seqline.components.train.warm_start import static_differences
from seqline.pipeline.artifacts import Model
from seqline.pipeline.errors import ConfigError

from .conftest import TextArtifacts, train_context

VOCAB = {"sha256": "a" * 64, "size": 42}


def _baseline(**properties: object) -> Model:
    base = {"task": "binary", "head": "sigmoid", "labels": ["neg", "pos"], "vocabulary": VOCAB}
    base.update(properties)
    return Model(
        Model.TYPE_NAME,
        "/root/train/model/fp",
        "fp",
        properties=base,
        producer={"node_id": "train", "component": "train_text", "run_id": "r"},
    )


def _differences(baseline: Model, **overrides: object) -> list[str]:
    kwargs: dict = {
        "component": "train_text",
        "vocabulary": VOCAB,
        "labels": ("neg", "pos"),
        "head": "sigmoid",
    }
    kwargs.update(overrides)
    return static_differences(baseline, **kwargs)


def test_same_vocabulary_labels_and_kind_are_compatible() -> None:
    assert _differences(_baseline()) == []


def test_each_difference_is_named() -> None:
    assert _differences(_baseline(), vocabulary={**VOCAB, "sha256": "b" * 64}) == [
        "vocabulary hash: baseline aaaaaaaaaaaa, this run bbbbbbbbbbbb (the token ids mean "
        "different words)"
    ]
    assert _differences(_baseline(), vocabulary={**VOCAB, "size": 50})[0] == (
        "vocabulary size: baseline 42, this run 50"
    )
    assert _differences(_baseline(vocabulary=None)) == [
        "vocabulary: the baseline records no vocabulary hash (trained earlier)"
    ]
    assert _differences(_baseline(), labels=("neg", "mid", "pos"), head="softmax") == [
        "model kind: baseline task binary, this run multiclass",
        "model kind: baseline head sigmoid, this run softmax",
        "labels: baseline ['neg', 'pos'], this run ['neg', 'mid', 'pos']",
    ]
    assert _differences(_baseline(), component="train_series") == [
        "model kind: the baseline was trained by train_text, this node is train_series"
    ]


# -- the component ------------------------------------------------------------------------------

BASE = TrainTextConfig(
    model=ModelConfig(units=8, embedding_dim=8),
    epochs=1,
    batch_size=8,
    learning_rate=0.01,
    early_stopping=EarlyStoppingConfig(patience=5),
)


def _keras_weights(model: Model) -> list[np.ndarray]:
    import keras

    import seqline.components.train.pooling  # noqa: F401 — custom layers

    return keras.saving.load_model(model.keras_file, compile=False).get_weights()


@pytest.fixture(scope="module")
def blessed(text_artifacts: TextArtifacts, tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A trained model standing for the last blessed one (as LatestBlessedModel returns it)."""
    from seqline.components.train.text_component import COMPONENT

    ctx = train_context(BASE, text_artifacts, tmp_path_factory.mktemp("baseline"))
    COMPONENT.executor(ctx)
    out = ctx.outputs["model"]
    # What later runs are checked against: the transform graph's vocabulary.
    vocab_size = text_artifacts.transform_graph.properties["vocab_size"]
    assert out.properties["vocabulary"]["size"] == vocab_size
    assert out.properties["warm_started_from"] is None
    return Model(Model.TYPE_NAME, out.uri, "blessedfp", properties=dict(out.properties))


def _train(config: TrainTextConfig, artifacts: TextArtifacts, root: Path, baseline: Model):
    from seqline.components.train.text_component import COMPONENT

    ctx = train_context(config, artifacts, root)
    ctx = replace(ctx, resolved={"warm_start_model": baseline})
    summary = COMPONENT.executor(ctx)
    return summary, ctx.outputs["model"]


@pytest.mark.slow  # two short trainings
def test_compatible_model_starts_from_the_blessed_weights(
    text_artifacts: TextArtifacts, blessed: Model, tmp_path: Path
) -> None:
    # A learning rate too small to move the weights: the result shows where training started.
    config = replace(BASE, warm_start=True, learning_rate=1e-9, seed=7)
    summary, model = _train(config, text_artifacts, tmp_path, blessed)
    assert summary["warm_started"] is True
    assert model.properties["warm_started_from"] == {
        "uri": blessed.uri,
        "fingerprint": "blessedfp",
        "pushed_version": None,
    }
    assert model.properties["warm_start_skipped"] is None
    for new, old in zip(_keras_weights(model), _keras_weights(blessed), strict=True):
        np.testing.assert_allclose(new, old, atol=1e-5)
    # The same run without warm start starts elsewhere (another seed's random weights).
    _, scratch = _train(replace(config, warm_start=False), text_artifacts, tmp_path / "s", blessed)
    assert scratch.properties["warm_started_from"] is None
    assert not all(
        np.allclose(new, old, atol=1e-5)
        for new, old in zip(_keras_weights(scratch), _keras_weights(blessed), strict=True)
    )


@pytest.mark.slow
def test_other_layer_shapes_are_refused_with_warm_start_true(
    text_artifacts: TextArtifacts, blessed: Model, tmp_path: Path
) -> None:
    config = replace(BASE, warm_start=True, model=ModelConfig(units=16, embedding_dim=8))
    with pytest.raises(ConfigError) as raised:
        _train(config, text_artifacts, tmp_path, blessed)
    message = str(raised.value)
    assert f"the last blessed model {blessed.uri} cannot seed this model" in message
    # The LSTM kernel (embedding 8 x 4 gates * units) is the first weight that differs.
    assert "layer shapes:" in message and "[8, 64] vs the baseline" in message
    assert "[8, 32]" in message
    assert "warm_start: if_compatible" in message  # how to fix


@pytest.mark.slow
def test_other_layer_shapes_train_from_scratch_with_if_compatible(
    text_artifacts: TextArtifacts, blessed: Model, tmp_path: Path
) -> None:
    config = replace(BASE, warm_start="if_compatible", model=ModelConfig(units=16, embedding_dim=8))
    summary, model = _train(config, text_artifacts, tmp_path, blessed)
    assert summary["warm_started"] is False
    assert model.properties["warm_started_from"] is None
    assert "layer shapes:" in model.properties["warm_start_skipped"]
    assert summary["epochs_run"] == 1  # trained all the same
