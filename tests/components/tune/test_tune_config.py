"""The tune section: the space maps onto train_text's config, every mistake is a ConfigError
raised while the pipeline is built (nothing runs), and tuned values override train's config."""

from __future__ import annotations

import dataclasses

import pytest

from seqline.components.text_pipeline import text_pipeline
from seqline.components.train.config import ModelConfig, TrainTextConfig
from seqline.components.train.overrides import apply_overrides, tunable_fields
from seqline.components.tune.config import TuneTextConfig
from seqline.pipeline.dag import OutputRef
from seqline.pipeline.errors import ConfigError

SPACE = {
    "units": {"choice": [8, 16]},
    "layer": {"choice": ["gru", "lstm"]},
    "learning_rate": {"log_range": [1.0e-4, 1.0e-2]},
    "dropout": {"range": [0, 0.5], "step": 0.1},
    "num_layers": {"range": [1, 2]},
    "bidirectional": {"choice": [False, True]},
}


def test_a_space_of_zoo_options_parses_into_typed_dimensions() -> None:
    dims = {d.name: d for d in TuneTextConfig(space=SPACE).dimensions()}
    assert list(dims) == list(SPACE)
    assert dims["units"].values == (8, 16)
    assert dims["dropout"].kind == "range" and dims["dropout"].low == 0.0
    assert isinstance(dims["dropout"].low, float)  # a float field's int end becomes a float
    assert dims["num_layers"].integer and not dims["learning_rate"].integer
    assert dims["learning_rate"].kind == "log_range"


def test_every_scalar_zoo_option_and_the_training_rate_and_batch_are_tunable() -> None:
    names = set(tunable_fields())
    model_scalars = {"pooling", "conv_filters", "ngram_branch", "spatial_dropout", "l2"}
    assert model_scalars | {"units", "layer", "learning_rate", "batch_size"} <= names
    # Not scalars, or not hyperparameters: never in the space.
    assert names.isdisjoint({"class_weights", "pretrained", "epochs", "seed", "distribution"})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"cell": {"choice": ["gru"]}}, r"space: unknown hyperparameter\(s\) \['cell'\]"),
        ({"epochs": {"choice": [1, 2]}}, r"unknown hyperparameter\(s\) \['epochs'\]"),
        ({"units": {"choice": [8, 0]}}, r"space.units.choice\[1\]: units: expected a positive"),
        ({"units": {"choice": [8, 8.5]}}, r"space.units.choice\[1\].units: expected int"),
        ({"layer": {"choice": ["gru", "transformer"]}}, r"space.layer.choice\[1\]"),
        ({"layer": {"range": [1, 2]}}, "space.layer.range: expected a choice"),
        ({"dropout": {"range": [0.5, 0.1]}}, r"space.dropout.range: expected low < high"),
        ({"dropout": {"range": [0.0, 1.5]}}, r"space.dropout.range.high: dropout: expected a num"),
        ({"learning_rate": {"log_range": [0, 1]}}, r"space.learning_rate.log_range.low"),
        ({"units": {"sample": [8, 16]}}, r"space.units: expected one of \['choice'"),
        ({"units": 8}, "space.units: expected a mapping"),
        ({"units": {"choice": []}}, "space.units.choice: expected a non-empty list"),
        ({"units": {"choice": [8, 8]}}, "space.units.choice: expected distinct values"),
        ({"units": {"range": [8, 64], "step": 0.5}}, "space.units.step: expected a positive int"),
        ({}, "space: expected at least one hyperparameter"),
    ],
)
def test_a_bad_space_is_a_config_error_naming_the_entry(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TuneTextConfig(space=space)


@pytest.mark.parametrize(
    ("space", "where"),
    [
        ({"learning_rate": {"log_range": [1.0e-4, float("inf")]}}, "learning_rate.log_range.high"),
        ({"l2": {"range": [0.0, float("inf")]}}, "l2.range.high"),
        ({"l2": {"log_range": [1.0e-6, float("nan")]}}, "l2.log_range.high"),
        ({"learning_rate": {"range": [float("nan"), 0.1]}}, "learning_rate.range.low"),
        ({"dropout": {"range": [0.0, 0.5], "step": float("nan")}}, "dropout.step"),
        ({"learning_rate": {"choice": [float("inf"), 1.0e-3]}}, r"learning_rate.choice\[0\]"),
    ],
)
def test_non_finite_numbers_in_the_space_are_refused(space: dict, where: str) -> None:
    """YAML's .inf and .nan: train took an infinite learning rate or l2 as a candidate, and NaN
    compares false with everything, so the range and step checks let it through."""
    with pytest.raises(ConfigError, match=rf"space\.{where}: expected a finite number, got"):
        TuneTextConfig(space=space)


def test_trials_never_score_the_test_split() -> None:
    expected = "splits other than 'test', got train_split='train', eval_split='test'"
    with pytest.raises(ConfigError, match=f"train: expected trials to fit and score on {expected}"):
        TuneTextConfig(space=SPACE, train=TrainTextConfig(eval_split="test"))


def test_tuned_values_override_only_the_named_fields() -> None:
    base = TrainTextConfig(model=ModelConfig(units=64, dropout=0.2), epochs=7)
    tuned = apply_overrides(base, {"units": 16, "learning_rate": 0.01, "layer": "gru"})
    assert (tuned.model.units, tuned.model.layer, tuned.learning_rate) == (16, "gru", 0.01)
    assert (tuned.model.dropout, tuned.epochs) == (0.2, 7)
    assert tuned == dataclasses.replace(
        base, learning_rate=0.01, model=dataclasses.replace(base.model, units=16, layer="gru")
    )
    expected = "hyperparameters: units: expected a positive integer, got -1"
    with pytest.raises(ConfigError, match=expected):
        apply_overrides(base, {"units": -1})


def _pipeline(tmp_path, **components):
    return text_pipeline(
        "t",
        str(tmp_path / "root"),
        ingest_text={"source": str(tmp_path / "x.csv"), "labels": ["neg", "pos"]},
        evaluate={"thresholds": {"accuracy": {"lower": 0.5}}},
        push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
        **components,
    )


def test_a_tune_section_adds_the_node_and_train_takes_its_output(tmp_path) -> None:
    untuned = _pipeline(tmp_path, train={"epochs": 3})
    assert "tune" not in [n.id for n in untuned.nodes]
    pipeline = _pipeline(
        tmp_path, train={"epochs": 3, "model": {"units": 8}}, tune={"space": SPACE}
    )
    ids = [n.id for n in pipeline.nodes]
    assert ids.index("transform") < ids.index("tune") < ids.index("train")
    nodes = {n.id: n for n in pipeline.nodes}
    assert nodes["train"].inputs["hyperparameters"] == OutputRef("tune", "best_hyperparameters")
    # The trials start from the train node's own config.
    assert nodes["tune"].config.train == nodes["train"].config
    assert nodes["tune"].config.train.model.units == 8


def test_switching_train_refit_on_does_not_search_again(tmp_path) -> None:
    """refit happens after train's own fit; trials never refit, so tune's config (and so its
    fingerprint) leaves it out."""
    plain = _pipeline(tmp_path, train={"epochs": 3}, tune={"space": SPACE})
    refit = _pipeline(tmp_path, train={"epochs": 3, "refit": True}, tune={"space": SPACE})
    plain_tune, refit_tune = ({n.id: n for n in p.nodes}["tune"] for p in (plain, refit))
    assert {n.id: n for n in refit.nodes}["train"].config.refit is True
    assert refit_tune.config.train.refit is False
    assert refit_tune.config == plain_tune.config


def test_pipeline_build_refuses_a_bad_tune_section_before_anything_runs(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"components.tune.space: unknown hyperparameter"):
        _pipeline(tmp_path, tune={"space": {"cell": {"choice": ["gru"]}}})
    with pytest.raises(ConfigError, match=r"components.tune.max_trials: expected"):
        _pipeline(tmp_path, tune={"space": SPACE, "max_trials": 0})
    with pytest.raises(ConfigError, match="components.tune.train: expected no `train` key"):
        _pipeline(tmp_path, tune={"space": SPACE, "train": {"epochs": 1}})
    with pytest.raises(ConfigError, match=r"components.tune: unknown field\(s\) \['trials'\]"):
        _pipeline(tmp_path, tune={"space": SPACE, "trials": 3})


def test_series_pipelines_have_no_tune_node(tmp_path) -> None:
    from seqline.components.series_pipeline import build_series_pipeline
    from seqline.components.standard_pipeline import python_settings

    settings = python_settings("s", str(tmp_path), "series", {"tune": {"space": SPACE}})
    with pytest.raises(ConfigError, match=r"components: unknown node\(s\) \['tune'\]"):
        build_series_pipeline(settings)


def test_the_fingerprint_covers_space_base_config_data_and_keras_tuner(monkeypatch) -> None:
    from seqline.components.train.text_component import COMPONENT as TRAIN_TEXT
    from seqline.components.tune.component import COMPONENT as TUNE_TEXT
    from seqline.pipeline import fingerprint

    inputs = {"transform_graph": "tg1", "transformed_examples": "te1"}

    def fp(config: TuneTextConfig, inputs: dict = inputs) -> str:
        return fingerprint.node_fingerprint(TUNE_TEXT, config, inputs)

    base = TuneTextConfig(space=SPACE)
    before = fp(base)
    assert before == fp(TuneTextConfig(space=dict(SPACE)))
    others = [
        fp(TuneTextConfig(space={**SPACE, "units": {"choice": [8, 32]}})),
        fp(dataclasses.replace(base, train=TrainTextConfig(batch_size=64))),
        fp(dataclasses.replace(base, max_trials=3)),
        fp(base, {**inputs, "transformed_examples": "te2"}),
    ]
    assert before not in others and len(set(others)) == len(others)

    train_before = fingerprint.node_fingerprint(TRAIN_TEXT, TrainTextConfig(), inputs)
    real = fingerprint.versions_of

    def newer_keras_tuner(names: tuple[str, ...]) -> dict[str, str]:
        return {n: "9.9" if n == "keras-tuner" else v for n, v in real(names).items()}

    monkeypatch.setattr(fingerprint, "versions_of", newer_keras_tuner)
    assert fp(base) != before
    # keras-tuner is tune_text's library only: train's fingerprint does not depend on it.
    assert fingerprint.node_fingerprint(TRAIN_TEXT, TrainTextConfig(), inputs) == train_before


def test_the_tuned_demo_example_builds() -> None:
    from pathlib import Path

    from seqline.pipeline.config_file import load_pipeline

    example = Path(__file__).resolve().parents[3] / "examples" / "demo" / "tuned.yaml"
    nodes = {n.id: n for n in load_pipeline(example).nodes}
    dims = nodes["tune"].config.dimensions()
    assert [d.name for d in dims] == ["layer", "units", "pooling", "dropout", "learning_rate"]
    assert nodes["tune"].config.train == nodes["train"].config
    assert "hyperparameters" in nodes["train"].inputs


def test_a_combination_of_valid_candidates_that_train_rejects_is_refused():
    """Each value is fine alone; together train refuses them. The search drew the clash in
    trial 4 and the whole tune node failed, discarding three finished trials."""
    space = {
        "ngram_branch": {"choice": ["none", "beside"]},
        "linear_branch": {"choice": ["none", "only"]},
    }
    with pytest.raises(ConfigError, match=r"space: the combination \{'ngram_branch': 'beside', "):
        TuneTextConfig(space=space)
    TuneTextConfig(space={"ngram_branch": {"choice": ["none", "beside"]}})
