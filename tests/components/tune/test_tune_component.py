"""tune_text for real on a tiny corpus: a 2-trial search whose best values train_text then
trains with; the time budget; the cache. Everything as the runner runs it (run_component)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqline.components.train.text_component import COMPONENT as TRAIN_TEXT
from seqline.components.tune.component import COMPONENT as TUNE_TEXT
from seqline.pipeline.harness import run_component
from tests.components.train.conftest import TextArtifacts

pytestmark = pytest.mark.slow

TRAIN = {"epochs": 1, "batch_size": 16, "model": {"embedding_dim": 8, "units": 4}}
CONFIG = {
    "space": {"units": {"choice": [4, 12]}, "learning_rate": {"choice": [0.003, 0.03]}},
    "max_trials": 2,
    "epochs": 1,
    "seed": 3,
    "train": TRAIN,
}


def _inputs(artifacts: TextArtifacts) -> dict:
    return {
        "transform_graph": artifacts.transform_graph,
        "transformed_examples": artifacts.transformed_examples,
    }


def test_a_tiny_search_finds_values_that_train_then_uses(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    import keras

    root = tmp_path / "root"
    run = run_component(TUNE_TEXT, CONFIG, _inputs(text_artifacts), root=root, node_id="tune")
    best = run.outputs["best_hyperparameters"]
    p = best.properties
    assert (p["trials_run"], p["stopped_by"], p["search"]) == (2, "max_trials", "random")
    trials = json.loads((Path(best.uri) / "trials.json").read_text())
    assert len(trials) == 2 and all(len(t["history"]) == 1 for t in trials)
    winner = max(trials, key=lambda t: t["score"])
    assert p["values"] == winner["values"] and p["best_score"] == winner["score"]
    assert set(p["values"]) == {"units", "learning_rate"}
    assert 0.0 <= p["best_score"] <= 1.0  # an accuracy on the eval split
    assert p["scored_on"] == "eval"
    assert best.describe()[0] == (
        f"best val_accuracy {p['best_score']} on the 'eval' split (trial {p['best_trial_id']})"
    )

    # The same search again is a cache hit: same fingerprint, same artifact, nothing runs.
    again = run_component(TUNE_TEXT, CONFIG, _inputs(text_artifacts), root=root, node_id="tune")
    assert again.cached and again.outputs["best_hyperparameters"].uri == best.uri

    # train_text takes the artifact: its values override the config and are recorded.
    trained = run_component(
        TRAIN_TEXT,
        TRAIN,
        {**_inputs(text_artifacts), "hyperparameters": best},
        root=root,
        node_id="train",
    )
    model = trained.outputs["model"]
    assert model.properties["hyperparameters"] == p["values"]
    keras_model = keras.models.load_model(Path(model.uri) / "keras" / "model.keras")
    recurrent = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.units for layer in recurrent] == [p["values"]["units"]]
    learning_rate = float(keras.ops.convert_to_numpy(keras_model.optimizer.learning_rate))
    assert learning_rate == pytest.approx(p["values"]["learning_rate"])


def test_no_trial_starts_once_the_time_budget_is_spent(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    config = {**CONFIG, "max_trials": 5, "time_budget_seconds": 0.001}
    run = run_component(TUNE_TEXT, config, _inputs(text_artifacts), root=tmp_path, node_id="tune")
    p = run.outputs["best_hyperparameters"].properties
    # The first trial starts at once and outlasts the budget; the other four never start.
    assert (p["trials_run"], p["stopped_by"]) == (1, "time_budget")


def test_with_ema_a_trial_scores_the_averaged_weights(text_artifacts: TextArtifacts) -> None:
    """train.ema does not change the updates, only which weights validation sees: a trial's
    objective must be the average's, as train selects on it. With momentum near 1 the average
    barely leaves the initial weights, so its val_loss sits near the untrained model's, not
    near the trained weights' (without the swap both trials would report the same figure)."""
    from seqline.components.train.config import ModelConfig, TrainTextConfig
    from seqline.components.tune.trial import fit_trial

    def val_loss(ema: float, learning_rate: float) -> float:
        base = TrainTextConfig(
            epochs=1, batch_size=16, seed=3, ema=ema, model=ModelConfig(embedding_dim=8, units=4)
        )
        graph = text_artifacts.transform_graph
        history = fit_trial(
            base,
            {"learning_rate": learning_rate},
            1,
            "val_loss",
            graph.uri,
            graph.text(),
            text_artifacts.transformed_examples,
        )
        assert len(history) == 1
        return history[0]

    untrained = val_loss(0.0, 1e-9)  # the same seed: the initial weights' figure
    trained, averaged = val_loss(0.0, 0.05), val_loss(0.999, 0.05)
    assert abs(averaged - untrained) < abs(trained - untrained) / 4


def test_true_false_choices_reach_train_as_booleans(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    """KerasTuner stores a true/false choice as 1/0 and train's bool fields refuse ints: every
    trial of a space with `bidirectional: {choice: [true, false]}` failed as rejected."""
    config = {**CONFIG, "space": {"bidirectional": {"choice": [True, False]}}}
    said: list[str] = []
    run = run_component(
        TUNE_TEXT, config, _inputs(text_artifacts), root=tmp_path, node_id="tune",
        progress=said.append,
    )  # fmt: skip
    best = run.outputs["best_hyperparameters"]
    trials = json.loads((Path(best.uri) / "trials.json").read_text())
    assert [t["score"] is not None for t in trials] == [True, True], said
    assert {type(t["values"]["bidirectional"]) for t in trials} == {bool}
    assert isinstance(best.properties["values"]["bidirectional"], bool)
    # Progress lines and the artifact name trials alike.
    best_id = best.properties["best_trial_id"]
    assert any(line.startswith(f"trial {best_id}: val_accuracy ") for line in said)


def test_no_eval_split_stops_before_the_first_trial(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    """A split every trial needs and none has failed each trial as if its values were bad,
    then the node with advice about learning rates."""
    import copy

    from seqline.pipeline.errors import ConfigError

    no_eval = copy.copy(text_artifacts.transformed_examples)
    no_eval.properties = {**no_eval.properties, "splits": ["train", "test"]}
    said: list[str] = []
    inputs = {**_inputs(text_artifacts), "transformed_examples": no_eval}
    with pytest.raises(ConfigError, match="eval_split"):
        run_component(
            TUNE_TEXT, CONFIG, inputs, root=tmp_path, node_id="tune", progress=said.append
        )
    assert not any(line.startswith("trial ") for line in said)


def test_a_search_that_finds_the_same_values_leaves_train_cached(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    """train reads only the best values: a rerun of the search (here a new time budget) that
    finds the same ones used to retrain, re-evaluate and push the same model again."""
    inputs = _inputs(text_artifacts)
    first = run_component(TUNE_TEXT, CONFIG, inputs, root=tmp_path, node_id="tune")
    wider = {**CONFIG, "time_budget_seconds": 7200}
    second = run_component(TUNE_TEXT, wider, inputs, root=tmp_path, node_id="tune")
    a = first.outputs["best_hyperparameters"]
    b = second.outputs["best_hyperparameters"]
    assert not second.cached and a.fingerprint != b.fingerprint  # the search ran again
    assert a.values == b.values and a.content_fingerprint == b.content_fingerprint
    trained = run_component(
        TRAIN_TEXT, TRAIN, {**inputs, "hyperparameters": a}, root=tmp_path, node_id="train"
    )
    again = run_component(
        TRAIN_TEXT, TRAIN, {**inputs, "hyperparameters": b}, root=tmp_path, node_id="train"
    )
    assert again.cached and again.fingerprint == trained.fingerprint
