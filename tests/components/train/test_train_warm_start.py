"""Warm start of train_text from the last blessed model: what counts as compatible (pure), and
the component warm starting, refusing, or falling back to training from scratch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.config import EarlyStoppingConfig, ModelConfig, TrainTextConfig
from seqline.components.train.split_lineage import model_split_lineage
from seqline.components.train.warm_start import refuse_or_skip, static_differences
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.artifacts import Model
from seqline.pipeline.errors import ConfigError

from .conftest import TextArtifacts, train_context

VOCAB = {"sha256": "a" * 64, "size": 42}
SPLIT = {
    "ingest": "ingest_text",
    "split_by": "hash",
    "ratios": {"eval": 0.1, "test": 0.1, "train": 0.8},
    "key": "standardized_text",
}
OTHER_SPLIT = {**SPLIT, "ratios": {"eval": 0.1, "test": 0.4, "train": 0.5}}


def _baseline(**properties: object) -> Model:
    base = {
        "task": "binary",
        "head": "sigmoid",
        "labels": ["neg", "pos"],
        "vocabulary": VOCAB,
        "split_lineage": [SPLIT],
    }
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
        "split_definition": SPLIT,
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


def test_a_baseline_fitted_under_another_split_definition_is_a_difference() -> None:
    """The probe: split_ratios 0.8/0.1/0.1 -> 0.5/0.1/0.4 with warm_start: true blessed a
    model whose weights were fitted on 178 of the new test split's 245 records."""
    assert _differences(_baseline(), split_definition=OTHER_SPLIT) == [
        "split definition: the baseline's weights were fitted on Examples split differently "
        '(ratios: {"eval": 0.1, "test": 0.1, "train": 0.8} -> {"eval": 0.1, "test": 0.4, '
        '"train": 0.5}), so records it was fitted on may be in this run\'s test split, where '
        "the blessing is decided"
    ]
    # Anywhere in its lineage: a model warm started from one trained under the other split.
    assert len(_differences(_baseline(split_lineage=[OTHER_SPLIT, SPLIT]))) == 1
    by_id = {**SPLIT, "key": "id_column", "id_column": "id"}
    assert _differences(_baseline(), split_definition=by_id)[0].startswith(
        "split definition: the baseline's weights were fitted on Examples split differently "
        '(key: "standardized_text" -> "id_column"; id_column: unset -> "id")'
    )


def test_an_unknown_split_on_either_side_is_a_difference() -> None:
    """Models trained before the lineage was recorded hashed the raw text: which of this run's
    test records they were fitted on cannot be told."""
    assert _differences(_baseline(split_lineage=None)) == [
        "split definition: the baseline records no split lineage (trained before seqline "
        "recorded it, or from Examples without a split_definition), so it may have been "
        "fitted on records of this run's test split"
    ]
    assert _differences(_baseline(), split_definition=None)[0].startswith(
        "split definition: this run's Examples record none"
    )


def test_refusing_another_split_says_why_and_how_to_fix_it() -> None:
    differences = _differences(_baseline(), split_definition=OTHER_SPLIT)
    with pytest.raises(ConfigError) as raised:
        refuse_or_skip(True, _baseline(), differences)
    message = str(raised.value)
    assert "train.warm_start: true, but the last blessed model /root/train/model/fp cannot " in (
        message
    )
    assert "ratios:" in message and "this run's test split" in message
    assert "keep the split the baseline was trained under" in message
    assert "or set warm_start: false to train the first model of this split" in message
    assert "same vocabulary" not in message
    skipped = refuse_or_skip("if_compatible", _baseline(), differences)
    assert skipped.startswith("not warm started from /root/train/model/fp: split definition:")


def test_the_lineage_carries_the_warm_start_sources_definitions() -> None:
    assert model_split_lineage(SPLIT, None) == [SPLIT]
    assert model_split_lineage(SPLIT, _baseline()) == [SPLIT]
    assert model_split_lineage(SPLIT, _baseline(split_lineage=[OTHER_SPLIT])) == [
        OTHER_SPLIT,
        SPLIT,
    ]
    assert model_split_lineage(None, _baseline()) is None
    assert _baseline(split_lineage="junk").split_lineage is None


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
    ctx = replace(ctx, resolved={"examples": _examples(SPLIT)})
    COMPONENT.executor(ctx)
    out = ctx.outputs["model"]
    # What later runs are checked against: the transform graph's vocabulary.
    vocab_size = text_artifacts.transform_graph.properties["vocab_size"]
    assert out.properties["vocabulary"]["size"] == vocab_size
    assert out.properties["warm_started_from"] is None
    assert out.properties["split_lineage"] == [SPLIT]
    return Model(Model.TYPE_NAME, out.uri, "blessedfp", properties=dict(out.properties))


def _examples(split_definition: dict | None) -> Artifact:
    """The Examples the runner resolves upstream of transformed_examples (only their
    properties are read)."""
    properties = {"splits": ["train", "eval"], "split_definition": split_definition}
    return Artifact(
        ArtifactType.EXAMPLES, "/root/ingest/examples/fp", "exfp", properties=properties
    )


def _train(
    config: TrainTextConfig,
    artifacts: TextArtifacts,
    root: Path,
    baseline: Model,
    split: dict | None = SPLIT,
):
    from seqline.components.train.text_component import COMPONENT

    ctx = train_context(config, artifacts, root)
    ctx = replace(ctx, resolved={"warm_start_model": baseline, "examples": _examples(split)})
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
    assert model.properties["split_lineage"] == [SPLIT]
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


@pytest.mark.slow  # one short training (the refusal comes before any is built)
def test_another_split_is_refused_with_warm_start_true_and_skipped_with_if_compatible(
    text_artifacts: TextArtifacts, blessed: Model, tmp_path: Path
) -> None:
    config = replace(BASE, warm_start=True)
    with pytest.raises(ConfigError) as raised:
        _train(config, text_artifacts, tmp_path / "a", blessed, split=OTHER_SPLIT)
    message = str(raised.value)
    assert "split definition: the baseline's weights were fitted on Examples split" in message
    assert "warm_start: false" in message
    summary, model = _train(
        replace(config, warm_start="if_compatible"),
        text_artifacts,
        tmp_path / "b",
        blessed,
        split=OTHER_SPLIT,
    )
    assert summary["warm_started"] is False
    assert model.properties["warm_started_from"] is None
    assert model.properties["warm_start_skipped"].startswith(
        f"not warm started from {blessed.uri}: split definition:"
    )
    # Trained from scratch under the new split: its lineage holds that split alone.
    assert model.properties["split_lineage"] == [OTHER_SPLIT]
