"""TrainTextConfig validation and its JSON round trip (no TensorFlow)."""

from __future__ import annotations

import pytest

from seqline.components.train.config import (
    EarlyStoppingConfig,
    ModelConfig,
    ReduceLRConfig,
    TrainTextConfig,
    from_json,
    to_json,
)
from seqline.pipeline.errors import ConfigError


def test_defaults_are_valid_and_documented_values() -> None:
    config = TrainTextConfig()
    assert (config.model.embedding_dim, config.model.units, config.model.layer) == (64, 64, "lstm")
    assert config.model.head == "auto" and config.distribution == "auto"
    assert config.early_stopping.monitor == "val_loss"


@pytest.mark.parametrize(
    ("build", "field_path"),
    [
        (lambda: ModelConfig(layer="transformer"), "layer"),
        (lambda: ModelConfig(units=0), "units"),
        (lambda: ModelConfig(num_layers=-1), "num_layers"),
        (lambda: ModelConfig(dropout=1.0), "dropout"),
        (lambda: ModelConfig(recurrent_dropout=-0.1), "recurrent_dropout"),
        (lambda: ModelConfig(head="relu"), "head"),
        (lambda: EarlyStoppingConfig(monitor="val_auc"), "monitor"),
        (lambda: EarlyStoppingConfig(patience=-1), "patience"),
        (lambda: ReduceLRConfig(factor=1.5), "factor"),
        (lambda: TrainTextConfig(epochs=0), "epochs"),
        (lambda: TrainTextConfig(batch_size=True), "batch_size"),
        (lambda: TrainTextConfig(learning_rate=0), "learning_rate"),
        # YAML's .inf and .nan: an infinite rate diverged in the first step
        (lambda: TrainTextConfig(learning_rate=float("inf")), "learning_rate"),
        (lambda: ModelConfig(l2=float("inf")), "l2"),
        (lambda: ModelConfig(class_weights={"pos": float("nan")}), "class_weights.pos"),
        (lambda: ReduceLRConfig(min_lr=float("nan")), "min_lr"),
        (lambda: EarlyStoppingConfig(min_delta=float("inf")), "min_delta"),
        (lambda: TrainTextConfig(steps_per_epoch=0), "steps_per_epoch"),
        (lambda: TrainTextConfig(eval_split="train"), "eval_split"),
        (lambda: TrainTextConfig(distribution="tpu"), "distribution"),
    ],
)
def test_invalid_values_name_the_field_and_what_was_received(build, field_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    message = str(info.value)
    assert message.startswith(f"{field_path}: expected")
    assert "got" in message


def test_json_round_trip_keeps_nested_values() -> None:
    config = TrainTextConfig(
        model=ModelConfig(layer="gru", units=8, bidirectional=True, num_layers=2),
        epochs=3,
        early_stopping=EarlyStoppingConfig(monitor="val_accuracy", patience=1),
        steps_per_epoch=5,
        eval_split="test",
    )
    assert from_json(to_json(config), type(config)) == config


def test_from_json_rejects_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(ConfigError, match=r"train: unknown field\(s\) \['epoch'\]"):
        from_json('{"epoch": 3}', TrainTextConfig)
    with pytest.raises(ConfigError, match=r"train.model: unknown field\(s\) \['unit'\]"):
        from_json('{"model": {"unit": 3}}', TrainTextConfig)
    with pytest.raises(ConfigError, match="train.batch_size"):
        from_json('{"batch_size": "big"}', TrainTextConfig)


def test_nested_value_errors_carry_the_full_yaml_path() -> None:
    from seqline.pipeline.config_parsing import build_dataclass

    with pytest.raises(ConfigError) as info:
        build_dataclass(TrainTextConfig, {"model": {"layer": "transformer"}}, "components.train")
    assert str(info.value).startswith("components.train.model.layer: expected one of")
    config = build_dataclass(
        TrainTextConfig,
        {"model": {"layer": "gru", "bidirectional": True}, "steps_per_epoch": None},
        "components.train",
    )
    assert config.model == ModelConfig(layer="gru", bidirectional=True)
