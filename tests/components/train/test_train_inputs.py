"""Reading the input artifacts: split choice, graph properties, TFRecord batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.config import TrainTextConfig
from seqline.pipeline.artifacts import TransformedExamples, TransformGraph
from seqline.pipeline.component import retype
from seqline.pipeline.errors import ConfigError, DataError

from .conftest import MAX_TOKENS, TextArtifacts

training = pytest.importorskip("seqline.components.train.training")


@pytest.mark.parametrize(
    ("splits", "eval_split", "expected"),
    [
        (["train", "eval"], None, "eval"),
        (["train", "validation", "test"], None, "validation"),
        (["train", "eval", "test"], None, "eval"),
        (["train", "holdout"], "holdout", "holdout"),
    ],
)
def test_eval_split_choice(splits: list[str], eval_split: str | None, expected: str) -> None:
    config = TrainTextConfig(eval_split=eval_split)
    assert training.resolve_splits(config, splits) == ("train", expected)


def test_missing_splits_name_what_exists() -> None:
    with pytest.raises(ConfigError, match=r"none of .* among the TransformedExamples splits"):
        training.resolve_splits(TrainTextConfig(), ["train", "other"])
    # test is kept for evaluate: early stopping never picks it on its own.
    with pytest.raises(ConfigError, match=r"none of .* among the TransformedExamples splits"):
        training.resolve_splits(TrainTextConfig(), ["train", "test"])
    with pytest.raises(ConfigError, match=r"train_split: expected one of .*\['all'\]"):
        training.resolve_splits(TrainTextConfig(), ["all"])
    with pytest.raises(ConfigError, match="eval_split: expected one of"):
        training.resolve_splits(TrainTextConfig(eval_split="dev"), ["train", "eval"])


def test_graph_properties_are_required() -> None:
    graph = TransformGraph(
        "TransformGraph", "g", "fp", properties={"vocab_size": 10, "max_tokens": 4}
    )
    with pytest.raises(DataError, match=r"missing \['labels'\]"):
        graph.text()


def test_dataset_batches_tokens_and_labels(text_artifacts: TextArtifacts) -> None:
    import tensorflow_transform as tft

    from seqline.components.train import data

    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    assert examples is not None
    spec = tft.TFTransformOutput(text_artifacts.transform_graph.uri).transformed_feature_spec()
    files = examples.split_files("eval")
    assert (
        data.count_records(files)
        == text_artifacts.transformed_examples.properties["counts"]["eval"]
    )
    features, labels = next(iter(data.make_dataset(files, spec, 5, sigmoid_head=True)))
    assert features["tokens"].shape == (5, MAX_TOKENS) and features["tokens"].dtype.name == "int64"
    assert labels.shape == (5, 1) and labels.dtype.name == "float32"
    _, ids = next(iter(data.make_dataset(files, spec, 5, sigmoid_head=False)))
    assert ids.shape == (5,) and set(np.unique(ids.numpy())) <= {0, 1}
    # Right padding: once a row has a 0, the rest of the row is 0.
    tokens = features["tokens"].numpy()
    for row in tokens:
        zeros = np.flatnonzero(row == 0)
        assert zeros.size == 0 or (row[zeros[0] :] == 0).all()


def test_validation_dataset_has_no_autotuning_and_the_same_batches(
    text_artifacts: TextArtifacts,
) -> None:
    """The validation pass's dataset runs without tf.data autotuning (whose teardown at each
    Keras validation reset cost seconds of idle time, issue 13) and yields the same batches."""
    import tensorflow_transform as tft

    from seqline.components.train import data

    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    assert examples is not None
    spec = tft.TFTransformOutput(text_artifacts.transform_graph.uri).transformed_feature_spec()
    files = examples.split_files("eval")
    tuned = data.make_dataset(files, spec, 5, sigmoid_head=True)
    plain = data.without_autotune_thread(tuned)
    assert tuned.options().autotune.enabled is not False
    assert plain.options().autotune.enabled is False
    for (a_features, a_labels), (b_features, b_labels) in zip(tuned, plain, strict=True):
        np.testing.assert_array_equal(a_features["tokens"], b_features["tokens"])
        np.testing.assert_array_equal(a_labels, b_labels)


class _FitCalled(Exception):
    pass


def test_fit_gets_train_and_validation_inputs_without_autotuning(
    text_artifacts: TextArtifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both of fit's inputs run without tf.data autotuning: Keras drops the validation iterator
    every epoch and the train iterator when fit returns, and with autotuning either teardown
    could idle for seconds (issue 13)."""
    import keras

    from seqline.components.train.callbacks import WorkPaths

    seen: dict[str, object] = {}

    def fit(self: object, x: object, validation_data: object = None, **kwargs: object) -> None:
        seen.update(train=x, validation=validation_data)
        raise _FitCalled

    monkeypatch.setattr(keras.Model, "fit", fit)
    graph = retype(text_artifacts.transform_graph, TransformGraph)
    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    assert graph is not None and examples is not None
    with pytest.raises(_FitCalled):
        training.train_text_classifier(
            TrainTextConfig(epochs=1),
            graph.uri,
            graph.text(),
            examples,
            WorkPaths(str(tmp_path / "work")),
        )
    assert seen["train"].options().autotune.enabled is False  # type: ignore[attr-defined]
    assert seen["validation"].options().autotune.enabled is False  # type: ignore[attr-defined]


def test_missing_split_files_are_a_data_error(tmp_path: Path) -> None:
    examples = TransformedExamples(
        "TransformedExamples", str(tmp_path), "fp", properties={"splits": ["train", "eval"]}
    )
    with pytest.raises(DataError, match="expected files matching .*/eval/data-"):
        examples.split_files("eval")


def test_worker_cli_rejects_a_path_without_a_published_artifact(tmp_path: Path) -> None:
    import subprocess
    import sys

    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "seqline.components.train.worker",
            "--component",
            "train_text",
            "--transform-graph",
            str(tmp_path / "missing"),
            "--transformed-examples",
            str(tmp_path / "missing"),
            "--pipeline-root",
            str(tmp_path),
            "--fingerprint",
            "fp",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 2
    assert "expected a published artifact (with artifact.json)" in child.stderr


def test_an_empty_split_is_a_data_error(text_artifacts: TextArtifacts, tmp_path: Path) -> None:
    from seqline.components.train.callbacks import WorkPaths

    properties = {"splits": ["train", "eval"], "counts": {"train": 10, "eval": 0}}
    examples = TransformedExamples(
        "TransformedExamples", text_artifacts.transformed_examples.uri, "fp", properties=properties
    )
    graph = retype(text_artifacts.transform_graph, TransformGraph)
    assert graph is not None
    with pytest.raises(DataError, match="split 'eval' is empty"):
        training.train_text_classifier(
            TrainTextConfig(),
            graph.uri,
            graph.text(),
            examples,
            WorkPaths(str(tmp_path / "work")),
        )
