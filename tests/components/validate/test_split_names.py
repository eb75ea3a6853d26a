"""A typo in validate.splits / skew_split is refused when the pipeline is built, naming the
typo, the splits ingest's config makes and the closest one, instead of after ingest ran."""

from __future__ import annotations

import pytest

from seqline.components.series_pipeline import series_pipeline
from seqline.components.text_pipeline import text_pipeline
from seqline.components.validate.config import ValidateConfig, check_split_names
from seqline.pipeline.errors import ConfigError


def _text(tmp_path, validate: dict, **ingest) -> None:
    text_pipeline(
        "p",
        str(tmp_path),
        ingest_text={"source": "x.csv", "labels": ["neg", "pos"], **ingest},
        validate=validate,
        evaluate={"thresholds": {"accuracy": {"lower": 0.5}}},
        push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
    )


def test_a_splits_typo_is_refused_when_the_text_pipeline_is_built(tmp_path) -> None:
    with pytest.raises(ConfigError) as raised:
        _text(tmp_path, {"splits": ["train", "tset"]})
    message = str(raised.value)
    assert "validate.splits" in message and "'tset'" in message
    assert "['train', 'eval', 'test']" in message and "a split ingest_text makes" in message
    assert "did you mean 'test'?" in message
    _text(tmp_path, {"splits": ["train", "test"]})  # the right names build


def test_splits_follow_the_ingest_config(tmp_path) -> None:
    ratios = {"split_ratios": {"train": 0.7, "dev": 0.1, "test": 0.2}}
    with pytest.raises(ConfigError, match=r"\['train', 'dev', 'test'\].*got 'eval'"):
        _text(tmp_path, {"splits": ["eval"]}, **ratios)
    by_source = {
        "split_by": "source",
        "split_column": "s",
        "source_splits": {"train": "train", "test": "test", "d": "dev"},
    }
    with pytest.raises(ConfigError, match=r"did you mean 'dev'\?"):
        _text(tmp_path, {"splits": ["deev"]}, **by_source)


def test_skew_split_is_checked_only_when_serving_data_is_compared(tmp_path) -> None:
    serving = {"serving_examples": str(tmp_path / "logs-*.gz")}
    with pytest.raises(ConfigError) as raised:
        _text(tmp_path, {"skew_split": "trian", **serving})
    message = str(raised.value)
    assert "validate.skew_split" in message and "'trian'" in message
    assert "did you mean 'train'?" in message
    # Without serving_examples skew_split is never read: no reason to refuse it.
    _text(tmp_path, {"skew_split": "trian"})


def test_a_splits_typo_is_refused_when_the_series_pipeline_is_built(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"validate.splits.*'evl'.*did you mean 'eval'\?"):
        series_pipeline(
            "s",
            str(tmp_path),
            ingest_series={
                "source": "s.csv",
                "frequency": "1h",
                "targets": ["y"],
                "lookback": 4,
                "horizon": 2,
            },  # fmt: skip
            validate={"splits": ["evl"]},
            evaluate={"thresholds": {"mase": {"upper": 1}}},
            push={"serving_root": str(tmp_path / "serving"), "model_name": "m"},
        )


def test_the_run_time_check_names_the_closest_split() -> None:
    """Splits only the data knows (the statistics' datasets) are checked when validate runs."""
    with pytest.raises(ConfigError) as raised:
        check_split_names(ValidateConfig(splits=("valdation",)), ["train", "validation"], "x")
    message = str(raised.value)
    assert "got 'valdation'" in message and "did you mean 'validation'?" in message
    assert "leave splits empty" in message
    check_split_names(ValidateConfig(splits=("train",)), ["train", "validation"], "x")
