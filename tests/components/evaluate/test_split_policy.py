"""The blessing is never decided on a split the trainer used: checked before anything runs."""

from __future__ import annotations

import re

import pytest

from seqline.components.evaluate.config import EvaluateTextConfig as EvaluateConfig
from seqline.components.evaluate.forecast_config import EvaluateSeriesConfig
from seqline.components.evaluate.split_policy import check_evaluation_split, trainer_splits
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.train.config import TrainTextConfig
from seqline.components.transform.config import TransformTextConfig as TransformConfig
from seqline.pipeline.errors import ConfigError

TEXT = IngestTextConfig(source="x.csv", labels=("neg", "pos"))
RULE = {"thresholds": {"accuracy": {"lower": 0.5}}}


def check(evaluate: EvaluateConfig, train: TrainTextConfig | None = None, ingest=TEXT) -> None:
    check_evaluation_split(ingest, TransformConfig(), train or TrainTextConfig(), evaluate)


def test_defaults_score_the_test_split_the_trainer_never_saw() -> None:
    evaluate = EvaluateConfig(**RULE)
    assert evaluate.eval_split == "test"
    check(evaluate)  # no error
    assert set(trainer_splits(TrainTextConfig(), "train", TEXT.output_splits())) == {
        "train",
        "eval",
    }


@pytest.mark.parametrize(
    ("eval_split", "train", "used_by"),
    [
        ("eval", TrainTextConfig(), r"train.eval_split \(auto\): early stopping"),
        ("train", TrainTextConfig(), "train.train_split: fitting"),
        ("test", TrainTextConfig(eval_split="test"), "train.eval_split: early stopping"),
    ],
)
def test_a_trainer_split_is_refused_naming_both_fields_and_the_fix(
    eval_split: str, train: TrainTextConfig, used_by: str
) -> None:
    with pytest.raises(ConfigError) as err:
        check(EvaluateConfig(eval_split=eval_split, **RULE), train)
    message = str(err.value)
    assert message.startswith("evaluate.eval_split: expected a split the trainer never saw")
    assert f"got {eval_split!r}" in message
    assert re.search(used_by, message)
    assert "allow_trainer_split: true" in message


def test_allow_trainer_split_accepts_it_knowingly() -> None:
    check(EvaluateConfig(eval_split="eval", allow_trainer_split=True, **RULE))


def test_a_split_ingest_does_not_make_is_refused() -> None:
    two = IngestTextConfig(
        source="x.csv", labels=("a", "b"), split_ratios={"train": 0.8, "eval": 0.2}
    )
    with pytest.raises(ConfigError, match=r"one of the splits ingest produces \['train', 'eval'\]"):
        check(EvaluateConfig(**RULE), ingest=two)


def test_series_evaluate_the_last_time_split_by_default() -> None:
    series = IngestSeriesConfig(
        source="s.csv", frequency="1h", targets=("y",), lookback=4, horizon=2
    )
    assert list(series.splits) == ["train", "eval", "test"]
    forecast = EvaluateSeriesConfig(thresholds={"mase": {"upper": 1}})
    check(forecast, ingest=series)
    with pytest.raises(ConfigError, match="evaluate.eval_split"):
        check(EvaluateSeriesConfig(thresholds={"mase": {"upper": 1}}, eval_split="eval"),
              ingest=series)  # fmt: skip


def test_the_pipeline_builder_refuses_before_running(tmp_path) -> None:
    from seqline.components.text_pipeline import text_pipeline

    with pytest.raises(ConfigError, match="evaluate.eval_split: expected a split the trainer"):
        text_pipeline(
            "p",
            str(tmp_path),
            ingest_text={"source": "x.csv", "labels": ["neg", "pos"]},
            evaluate={"eval_split": "eval", **RULE},
            push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
        )
