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

from .conftest import Killed, TextArtifacts, train_context

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
    # The members' train-split figures at their best epochs too (the mean model has none).
    assert len(ensemble["member_accuracy"]) == 2 and None not in ensemble["member_accuracy"]
    assert all(0.0 <= a <= 1.0 for a in ensemble["member_accuracy"])
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


# A config that disables cuDNN (recurrent_dropout), so that the Model's cudnn_incompatibilities
# is not [] and a value copied from nowhere shows.
REUSE_CONFIG = TrainTextConfig(
    model=ModelConfig(units=8, embedding_dim=8, recurrent_dropout=0.1),
    epochs=1,
    batch_size=16,
    early_stopping=EarlyStoppingConfig(patience=10),
    ensemble=EnsembleConfig(members=2),
)


@dataclasses.dataclass
class Reused:
    """REUSE_CONFIG killed three times over: (1) in member 2 right after its fit returned
    (keeping its best weights), (2) after every member was finished, while the mean model was
    scored; (3) run to the end, every member reused."""

    first: list[str]
    second: list[str]
    third: list[str]
    summary: dict[str, Any]
    model: Any
    model_run: Any
    member_2_history: str
    member_2_checkpoint: bytes


@pytest.fixture(scope="module")
def reused(text_artifacts: TextArtifacts, tmp_path_factory: pytest.TempPathFactory) -> Reused:
    from seqline.components.train import training
    from seqline.components.train.text_component import COMPONENT

    root = tmp_path_factory.mktemp("ensemble_reused")
    work = root / "_work" / "train" / "trainfp"
    keep_weights = training._best_keras3_model

    def killed_in_member_2(task: Any, km: Any, trained: Any, paths: Any, choice: Any) -> Any:
        if paths.root.endswith("member_2"):
            raise Killed("member 2: fit returned, its best weights not kept yet")
        return keep_weights(task, km, trained, paths, choice)

    first: list[str] = []
    ctx = dataclasses.replace(
        train_context(REUSE_CONFIG, text_artifacts, root), progress=first.append
    )
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        patch.setattr(training, "_best_keras3_model", killed_in_member_2)
        COMPONENT.executor(ctx)
    member_2_history = (work / "member_2" / "history.csv").read_text()
    member_2_checkpoint = (work / "member_2" / "best.weights.h5").read_bytes()

    second: list[str] = []

    def kill_while_scoring(line: str) -> None:
        second.append(line)
        if line.startswith("ensemble of 2:"):
            raise Killed(line)

    ctx = dataclasses.replace(
        train_context(REUSE_CONFIG, text_artifacts, root), progress=kill_while_scoring
    )
    with pytest.raises(Killed):
        COMPONENT.executor(ctx)

    third: list[str] = []
    ctx = dataclasses.replace(
        train_context(REUSE_CONFIG, text_artifacts, root), progress=third.append
    )
    summary = COMPONENT.executor(ctx)
    return Reused(
        first,
        second,
        third,
        summary,
        ctx.outputs["model"],
        ctx.outputs["model_run"],
        member_2_history,
        member_2_checkpoint,
    )


@pytest.mark.slow
def test_a_member_killed_after_its_fit_is_built_from_its_checkpoint_not_retrained(
    reused: Reused, text_artifacts: TextArtifacts
) -> None:
    import keras

    assert any(line.startswith("member 2/2: epoch 1/1") for line in reused.first)
    assert not any(": epoch" in line for line in reused.second + reused.third)
    assert any(line.startswith("member 2/2: fit finished in an earlier") for line in reused.second)
    run = Path(reused.model_run.uri)
    # No second fit: no appended rows, and the kept checkpoint is attempt 1's.
    assert (run / "members" / "member_2" / "history.csv").read_text() == reused.member_2_history
    checkpoint = run / "members" / "member_2" / "checkpoints" / "best.weights.h5"
    assert checkpoint.read_bytes() == reused.member_2_checkpoint
    model = keras.saving.load_model(reused.model.path("keras", "model.keras"))
    from seqline.components.train import training
    from seqline.pipeline.artifacts import TransformedExamples, TransformGraph
    from seqline.pipeline.component import retype

    graph = retype(text_artifacts.transform_graph, TransformGraph)
    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    task = training.text_task(REUSE_CONFIG, graph.uri, graph.text(), examples)
    attempt_1 = task.build(keras)
    attempt_1.load_weights(str(checkpoint))
    batch = _eval_batch(text_artifacts)
    np.testing.assert_allclose(
        np.asarray(model.get_layer("member_2")(batch, training=False)),
        np.asarray(attempt_1(batch, training=False)),
        rtol=1e-6,
    )


@pytest.mark.slow
def test_when_every_member_is_reused_the_model_records_what_the_config_implies(
    reused: Reused,
) -> None:
    from seqline.components.train.cudnn import cudnn_incompatibilities

    assert [line for line in reused.third if "finished by an earlier attempt" in line] == [
        "member 1/2: finished by an earlier attempt; loading its weights instead of training it",
        "member 2/2: finished by an earlier attempt; loading its weights instead of training it",
    ]
    props = reused.model.properties
    expected = cudnn_incompatibilities(REUSE_CONFIG.model)
    assert expected and props["cudnn_incompatibilities"] == expected
    assert props["ensemble"]["reused_members"] == [1, 2]
    assert props["ensemble"]["member_epochs_run"] == [1, 1]
    assert None not in props["ensemble"]["member_val_loss"]
    assert reused.summary["reused_members"] == [1, 2]
    assert reused.summary["epochs_run"] == 2
    assert set(props["best_metrics"]) == {"val_loss", "val_accuracy"}


def test_divergence_is_decided_from_figures_every_worker_has() -> None:
    from seqline.components.train.training import (
        checkpoint_kept,
        divergence_error,
        epoch_values,
    )

    nan = float("nan")
    prior = {"epoch": [0.0, 1.0], "loss": [0.7, nan], "val_loss": [0.6, nan]}
    # This process resumed at epoch 1 and ran it again: its row wins, as in read_history.
    logs = {1: {"loss": 0.5, "val_loss": 0.4}, 2: {"loss": nan, "val_loss": nan}}
    assert epoch_values(prior, logs, "loss") == {0: 0.7, 1: 0.5, 2: pytest.approx(nan, nan_ok=True)}
    assert checkpoint_kept(False, logs, "val_loss")
    assert checkpoint_kept(True, {}, "val_loss")
    assert not checkpoint_kept(False, {0: {"loss": 0.5, "val_loss": nan}}, "val_loss")
    assert not checkpoint_kept(False, {0: {"loss": nan, "val_loss": 0.3}}, "val_loss")
    assert not checkpoint_kept(False, {0: {"loss": 0.5}}, "val_accuracy")
    # Diverged with a checkpoint: kept, and where it diverged recorded.
    assert divergence_error({0: 0.7, 1: nan}, True, 0.1) == (1, None)
    diverged, error = divergence_error({0: nan}, False, 0.1)
    assert diverged == 0 and error is not None and "epoch 1" in str(error)
    assert divergence_error({0: 0.7}, False, 0.1) == (None, None)


def test_a_non_chief_worker_fails_a_diverged_training_as_the_chief_does(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    """A chief that failed alone would leave the other workers waiting in the next member's
    collectives: every worker runs the checks. Played with the default strategy and a
    non-chief role (the decision does not depend on the cluster)."""
    import keras
    import tensorflow as tf

    from seqline.components.train import training
    from seqline.components.train.callbacks import WorkPaths
    from seqline.components.train.strategy import ClusterRole, StrategyChoice
    from seqline.pipeline.artifacts import TransformedExamples, TransformGraph
    from seqline.pipeline.component import retype
    from seqline.pipeline.errors import DataError

    config = dataclasses.replace(
        REUSE_CONFIG,
        model=ModelConfig(units=4, embedding_dim=4),
        learning_rate=1e38,  # the loss is NaN in epoch 1: no usable checkpoint
        ensemble=EnsembleConfig(),
    )
    graph = retype(text_artifacts.transform_graph, TransformGraph)
    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    task = training.text_task(config, graph.uri, graph.text(), examples)
    worker = ClusterRole(task_type="worker", task_index=1, num_workers=2, is_chief=False)
    choice = StrategyChoice("default", "keras", worker, "test: a non-chief worker")
    fitting = training.Fitting(task, examples, choice, tf.distribute.get_strategy(), keras)
    with pytest.raises(DataError, match="training diverged"):
        fitting.train(config, WorkPaths(str(tmp_path / "work")), lambda _m: None)


def test_the_mean_models_val_loss_holds_the_members_mean_penalty() -> None:
    """Keras adds all N members' L2 penalties to the mean model's loss; evaluate_mean keeps
    their mean, as one model's val_loss holds its one penalty."""
    import keras
    import tensorflow as tf

    from seqline.components.train.ensemble import evaluate_mean, mean_model

    def build(km: Any) -> Any:
        x = km.Input(shape=(4,), name="tokens")
        l2 = km.regularizers.L2(0.1)
        h = km.layers.Dense(8, activation="relu", kernel_regularizer=l2)(x)
        y = km.layers.Dense(1, activation="sigmoid", kernel_regularizer=l2)(h)
        return km.Model({"tokens": x}, y)

    members = []
    for k in range(3):
        keras.utils.set_random_seed(k)
        with keras.name_scope(f"member_{k + 1}"):
            member = build(keras)
        member.name = f"member_{k + 1}"
        members.append(member)
    model = mean_model(members)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(), metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (rng.random((64, 1)) > 0.5).astype("float32")
    got = evaluate_mean(model, tf.data.Dataset.from_tensor_slices(({"tokens": x}, y)).batch(16))
    p = np.clip(np.asarray(model({"tokens": x})), 1e-7, 1 - 1e-7)
    cross_entropy = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    penalties = [float(sum(float(loss) for loss in m.losses)) for m in members]
    assert min(penalties) > 0.1  # large enough that a missing or summed penalty shows
    assert got["val_loss"] == pytest.approx(cross_entropy + float(np.mean(penalties)), rel=1e-5)


def test_a_non_chief_worker_sums_its_members_epochs_and_records_cudnn_from_the_config() -> None:
    from types import SimpleNamespace

    from seqline.components.train.callbacks import WorkPaths
    from seqline.components.train.cudnn import cudnn_incompatibilities
    from seqline.components.train.ensemble import train_members
    from seqline.components.train.shell import not_chief_summary
    from seqline.components.train.strategy import ClusterRole, StrategyChoice
    from seqline.components.train.training import TrainResult

    worker = ClusterRole(task_type="worker", task_index=1, num_workers=2, is_chief=False)
    choice = StrategyChoice("multi_worker", "tf_keras", worker, "test")
    trained: list[int] = []

    class Fitting(SimpleNamespace):
        def train(self, config: Any, paths: Any, progress: Any, **_: Any) -> TrainResult:
            trained.append(config.seed)
            return TrainResult(None, False, choice, 2, "sigmoid", epochs_this_process=[0, 1])

    fitting = Fitting(
        is_chief=False,
        choice=choice,
        replicas=2,
        task=SimpleNamespace(head="sigmoid", recurrent=REUSE_CONFIG.model),
    )
    config = dataclasses.replace(REUSE_CONFIG, ensemble=EnsembleConfig(members=3))
    result = train_members(config, fitting, WorkPaths("/nonexistent/work"), lambda _m: None)  # type: ignore[arg-type]
    assert trained == [42, 43, 44]
    assert not_chief_summary(result) == {"chief": False, "epochs_run": 6}
    assert result.cudnn_incompatibilities == cudnn_incompatibilities(REUSE_CONFIG.model) != []
