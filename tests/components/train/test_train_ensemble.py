"""Seed ensembles (`train.ensemble`, components/train/ensemble.py): N members trained with seeds
seed, seed + 1, ..., exported as one model whose output is the mean of theirs; resume skips the
members a killed attempt finished."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.components.train.config import (
    EarlyStoppingConfig,
    EnsembleConfig,
    ForecasterConfig,
    ModelConfig,
    TrainTextConfig,
    from_json,
    to_json,
)
from seqline.pipeline.errors import ConfigError

from .conftest import TextArtifacts, train_context

TEXT_CONFIG = TrainTextConfig(
    # Class weights and weight averaging work per member: on here so that they are exercised.
    model=ModelConfig(units=8, embedding_dim=8, class_weights={"balanced": 1}),
    ema=0.9,
    epochs=2,
    batch_size=16,
    learning_rate=0.01,
    early_stopping=EarlyStoppingConfig(patience=10),
    ensemble=EnsembleConfig(members=2),
)


class Killed(Exception):
    """Stands for a kill -9: raised from a progress line, it ends the training there."""


@dataclasses.dataclass
class Attempts:
    """A text ensemble killed during member 2's second epoch, then run again to the end."""

    first: list[str]
    second: list[str]
    summary: dict[str, Any]
    model: Any
    model_run: Any
    member_1_history_after_kill: str


@pytest.fixture(scope="module")
def resumed(text_artifacts: TextArtifacts, tmp_path_factory: pytest.TempPathFactory) -> Attempts:
    from seqline.components.train.text_component import COMPONENT

    root = tmp_path_factory.mktemp("ensemble")
    first: list[str] = []

    def kill_in_member_2(line: str) -> None:
        first.append(line)
        # After member 2's first epoch was backed up, before its second one was.
        if line.startswith("member 2/2: epoch 2/2"):
            raise Killed(line)

    ctx = train_context(TEXT_CONFIG, text_artifacts, root)
    ctx = dataclasses.replace(ctx, progress=kill_in_member_2)
    with pytest.raises(Killed):
        COMPONENT.executor(ctx)
    work = root / "_work" / "train" / "trainfp"
    member_1_history = (work / "member_1" / "history.csv").read_text()

    second: list[str] = []
    ctx = dataclasses.replace(
        train_context(TEXT_CONFIG, text_artifacts, root), progress=second.append
    )
    summary = COMPONENT.executor(ctx)
    assert not work.exists()  # published: the resume state is gone
    return Attempts(
        first,
        second,
        summary,
        ctx.outputs["model"],
        ctx.outputs["model_run"],
        member_1_history,
    )


def test_members_must_be_an_integer_from_1_to_16() -> None:
    assert TrainTextConfig().ensemble.members == 1
    for bad in (0, 17, True, 2.0, "3"):
        with pytest.raises(ConfigError, match=r"members: expected an integer from 1 to 16"):
            EnsembleConfig(members=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"train\.ensemble\.members: expected an integer"):
        from_json(json.dumps({"ensemble": {"members": 0}}), TrainTextConfig)
    with pytest.raises(ConfigError, match=r"train\.ensemble: unknown field\(s\) \['seeds'\]"):
        from_json(json.dumps({"ensemble": {"seeds": 3}}), TrainTextConfig)
    round_trip = from_json(to_json(TEXT_CONFIG), TrainTextConfig)
    assert round_trip.ensemble == EnsembleConfig(members=2)


def test_warm_start_is_refused_with_an_ensemble() -> None:
    for mode in (True, "if_compatible"):
        with pytest.raises(ConfigError, match="warm_start: expected false with ensemble"):
            TrainTextConfig(warm_start=mode, ensemble=EnsembleConfig(members=2))
    assert TrainTextConfig(warm_start=True, ensemble=EnsembleConfig(members=1)).warm_start


def test_member_configs_count_seeds_up_from_the_seed() -> None:
    from seqline.components.train.ensemble import member_config

    seeds = [member_config(TEXT_CONFIG, k).seed for k in range(3)]
    assert seeds == [42, 43, 44]
    assert member_config(TEXT_CONFIG, 1).ensemble.members == 1


def test_the_fingerprint_changes_with_the_members() -> None:
    from seqline.components.train.text_component import COMPONENT
    from seqline.pipeline.fingerprint import node_fingerprint

    inputs = {"transformed_examples": "te", "transform_graph": "tg"}
    one = node_fingerprint(
        COMPONENT, dataclasses.replace(TEXT_CONFIG, ensemble=EnsembleConfig()), inputs
    )
    two = node_fingerprint(COMPONENT, TEXT_CONFIG, inputs)
    three = node_fingerprint(
        COMPONENT, dataclasses.replace(TEXT_CONFIG, ensemble=EnsembleConfig(members=3)), inputs
    )
    assert len({one, two, three}) == 3


def test_a_series_ensemble_has_no_step_signature_and_says_why() -> None:
    from seqline.components.train.series_step import streamable

    config = ForecasterConfig(layer="gru", units=(4,))
    assert streamable(config) is None
    assert "seed ensemble of 2 members" in (streamable(config, ensemble_members=2) or "")


@pytest.mark.slow
def test_resume_after_a_kill_in_member_2_does_not_retrain_member_1(resumed: Attempts) -> None:
    assert any(line.startswith("member 1/2: epoch 2/2") for line in resumed.first)
    assert not any(line.startswith("member 1/2: epoch") for line in resumed.second)
    assert any(
        line.startswith("member 1/2: finished by an earlier attempt") for line in resumed.second
    )
    # Member 2 resumed from its backup at its second epoch instead of starting over.
    assert [line for line in resumed.second if line.startswith("member 2/2: epoch")] == [
        next(line for line in resumed.second if line.startswith("member 2/2: epoch 2/2"))
    ]
    assert resumed.summary["reused_members"] == [1]
    assert resumed.summary["resumed_from_epoch"] == 1
    run = Path(resumed.model_run.uri)
    assert (run / "members" / "member_1" / "history.csv").read_text() == (
        resumed.member_1_history_after_kill
    )
    assert (run / "history.csv").read_text() == resumed.member_1_history_after_kill
    member_2 = (run / "members" / "member_2" / "history.csv").read_text().splitlines()
    assert len([row for row in member_2[1:] if row[0].isdigit()]) == 2  # both epochs recorded
    for member in ("member_1", "member_2"):
        assert (run / "members" / member / "training_curves.png").is_file()
        assert (run / "members" / member / "checkpoints" / "best.weights.h5").is_file()


def _eval_batch(artifacts: TextArtifacts) -> dict[str, np.ndarray]:
    """The model's inputs for the first eval batch, as train feeds them."""
    from seqline.components.train import training
    from seqline.pipeline.artifacts import TransformedExamples, TransformGraph
    from seqline.pipeline.component import retype

    graph = retype(artifacts.transform_graph, TransformGraph)
    examples = retype(artifacts.transformed_examples, TransformedExamples)
    task = training.text_task(TEXT_CONFIG, graph.uri, graph.text(), examples)
    features, _ = next(iter(task.dataset(examples.split_files("eval"), 24)))
    return {k: v.numpy() for k, v in features.items()}


@pytest.mark.slow
def test_the_exported_model_is_the_mean_of_different_members(
    resumed: Attempts, text_artifacts: TextArtifacts
) -> None:
    import keras

    model = keras.saving.load_model(resumed.model.path("keras", "model.keras"))
    members = [model.get_layer("member_1"), model.get_layer("member_2")]
    batch = _eval_batch(text_artifacts)
    outputs = [np.asarray(m(batch, training=False)) for m in members]
    mean = np.asarray(model(batch, training=False))
    assert mean.shape == outputs[0].shape == (24, 1)  # sigmoid head: P(pos)
    np.testing.assert_allclose(mean, (outputs[0] + outputs[1]) / 2, rtol=1e-6, atol=1e-7)
    # Different seeds: different weights and different answers.
    assert not np.allclose(outputs[0], outputs[1], atol=1e-4)
    assert not np.allclose(members[0].get_weights()[0], members[1].get_weights()[0])

    props = resumed.model.properties
    assert props["best_epoch"] is None
    assert set(props["best_metrics"]) == {"val_loss", "val_accuracy"}
    ensemble = props["ensemble"]
    assert ensemble["members"] == 2 and ensemble["seeds"] == [42, 43]
    assert len(ensemble["member_val_loss"]) == 2 and None not in ensemble["member_val_loss"]
    assert resumed.summary["member_val_loss"] == [round(v, 4) for v in ensemble["member_val_loss"]]
    assert resumed.summary["best_val_loss"] == round(props["best_metrics"]["val_loss"], 4)
    assert resumed.summary["epochs_run"] == 4  # 2 members x 2 epochs


@pytest.mark.slow
def test_the_recorded_val_metrics_are_the_mean_models_on_the_eval_split(
    resumed: Attempts, text_artifacts: TextArtifacts
) -> None:
    import keras

    from seqline.components.train import training
    from seqline.pipeline.artifacts import TransformedExamples, TransformGraph
    from seqline.pipeline.component import retype

    graph = retype(text_artifacts.transform_graph, TransformGraph)
    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    task = training.text_task(TEXT_CONFIG, graph.uri, graph.text(), examples)
    model = keras.saving.load_model(resumed.model.path("keras", "model.keras"), compile=False)
    probabilities, labels = [], []
    for features, label in task.dataset(examples.split_files("eval"), 7):
        probabilities.append(np.asarray(model(features, training=False))[:, 0])
        labels.append(label.numpy().reshape(-1))
    p, y = np.concatenate(probabilities), np.concatenate(labels)
    assert len(y) == examples.counts["eval"]
    p = np.clip(p, 1e-7, 1 - 1e-7)
    cross_entropy = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    accuracy = float(np.mean((p > 0.5) == (y > 0.5)))
    metrics = resumed.model.properties["best_metrics"]
    assert metrics["val_loss"] == pytest.approx(cross_entropy, rel=1e-4)
    assert metrics["val_accuracy"] == pytest.approx(accuracy)


@pytest.mark.slow
def test_the_ensemble_serves_raw_text_also_from_a_tf1_session(resumed: Attempts) -> None:
    import tensorflow as tf

    from .session_loading import assert_serves_from_a_session

    texts = [b"a great and wonderful film", b"an awful boring plot"]
    saved_model = resumed.model.path("saved_model")
    got = tf.saved_model.load(saved_model).signatures["predict_text"](text=tf.constant(texts))
    probabilities = got["probabilities"].numpy()
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert list(got["classes"].numpy()) == [b"pos", b"neg"]
    assert_serves_from_a_session(
        saved_model, {"predict_text": {"text": np.array(texts, dtype=object)}}
    )


@pytest.mark.slow
def test_warm_starting_one_model_from_an_ensemble_is_refused_clearly(resumed: Attempts) -> None:
    import keras

    from seqline.components.train import warm_start as ws
    from seqline.pipeline.artifacts import Model
    from seqline.pipeline.component import retype

    baseline = retype(resumed.model, Model)
    one = keras.saving.load_model(baseline.keras_file, compile=False).get_layer("member_1")
    reason = ws.load_baseline_weights("if_compatible", baseline, one, lambda _m: None)
    assert reason is not None and "layer shapes: the baseline has" in reason
    with pytest.raises(ConfigError, match="cannot seed this model"):
        ws.load_baseline_weights(True, baseline, one, lambda _m: None)
