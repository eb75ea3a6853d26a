"""The evaluate component on hand-built Examples and Model artifacts (real SavedModel scoring)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from seqline.components.evaluate.config import EvaluateTextConfig
from seqline.components.evaluate.text_component import COMPONENT
from seqline.components.evaluate.thresholds import Bound
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.errors import DataError
from tests.components.context import make_context
from tests.components.evaluate.keyword_model import (
    BINARY_KEYWORDS,
    BINARY_LABELS,
    MULTI_KEYWORDS,
    MULTI_LABELS,
    keyword_probabilities,
    make_corpus,
    write_examples,
)
from tests.components.evaluate.reference_metrics import ref_metrics

TOL = 1e-6


def _run(
    tmp_path: Path, examples: Artifact, model: Artifact, config: EvaluateTextConfig
) -> tuple[dict, Artifact]:
    out = tmp_path / "blessing"
    out.mkdir()
    blessing = Artifact(type_name=ArtifactType.BLESSING, uri=str(out), fingerprint="b1")
    ctx = make_context(
        config=config,
        inputs={"examples": examples, "model": model},
        outputs={"blessing": blessing},
    )
    summary = COMPONENT.executor(ctx)
    json.dumps(summary)  # the summary must be JSON-able
    return dict(summary), blessing


def _expected(rows: list[tuple[str, str]], labels, keywords) -> dict[str, float]:
    """Metrics by the reference definitions, from the keyword rule computed in plain Python."""
    texts = [text for text, _ in rows]
    label_ids = [labels.index(label) for _, label in rows]
    probabilities = keyword_probabilities(texts, keywords)
    predicted = [int(np.argmax(row)) for row in probabilities]
    return ref_metrics(label_ids, probabilities.tolist(), predicted, binary=len(labels) == 2)


@pytest.fixture(scope="module")
def binary_splits() -> dict[str, list[tuple[str, str]]]:
    # Train is mostly "pos", eval mostly "neg": the baseline must follow train, not eval.
    return {
        "train": make_corpus(200, BINARY_LABELS, BINARY_KEYWORDS, [0.3, 0.7], seed=1),
        "test": make_corpus(300, BINARY_LABELS, BINARY_KEYWORDS, [0.6, 0.4], seed=2),
    }


def test_binary_metrics_equal_reference_and_model_is_blessed(
    tmp_path: Path, binary_model: Artifact, binary_splits: dict
) -> None:
    examples = write_examples(str(tmp_path / "examples"), binary_splits)
    config = EvaluateTextConfig(
        thresholds={"accuracy": Bound(lower=0.6), "loss": Bound(upper=1.0)},
        beat_baseline=("accuracy", "auc"),
        batch_size=64,  # several batches across two shards
    )
    summary, blessing = _run(tmp_path, examples, binary_model, config)

    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    want = _expected(binary_splits["test"], BINARY_LABELS, BINARY_KEYWORDS)
    for name, value in want.items():
        assert metrics["model"][name] == pytest.approx(value, abs=TOL), name

    # Baseline: most frequent TRAIN label ("pos"), scored on eval labels.
    baseline = metrics["baseline"]
    train_counts = Counter(label for _, label in binary_splits["train"])
    assert baseline["fitted_on"] == "train"
    assert baseline["majority_class"] == "pos"
    assert baseline["label_counts"] == dict(train_counts)
    eval_labels = [label for _, label in binary_splits["test"]]
    assert baseline["metrics"]["accuracy"] == pytest.approx(eval_labels.count("pos") / 300)
    assert baseline["metrics"]["auc"] == pytest.approx(0.5)

    assert summary["blessed"] is True
    assert summary["examples"] == 300
    doc = json.loads((Path(blessing.uri) / "checks.json").read_text())
    assert len(doc["checks"]) == 4  # two bounds + two baseline comparisons
    assert all(check["passed"] for check in doc["checks"])
    assert doc["model"]["fingerprint"] == binary_model.fingerprint
    assert blessing.properties["blessed"] is True  # the verdict is stored once, here
    # The split every figure is on, recorded where `seqline show` reads it (no file read).
    assert blessing.properties["eval_split"] == "test" == metrics["eval_split"]
    assert blessing.properties["reasons"] == [check["reason"] for check in doc["checks"]]
    assert blessing.properties["metrics"]["accuracy"] == pytest.approx(want["accuracy"])


def test_failed_threshold_is_a_not_blessed_artifact_not_an_exception(
    tmp_path: Path, binary_model: Artifact, binary_splits: dict
) -> None:
    examples = write_examples(str(tmp_path / "examples"), binary_splits, shards=1)
    config = EvaluateTextConfig(thresholds={"accuracy": Bound(lower=0.99), "auc": Bound(lower=0.5)})
    summary, blessing = _run(tmp_path, examples, binary_model, config)

    assert summary["blessed"] is False
    assert blessing.properties["blessed"] is False
    reasons = blessing.properties["reasons"]
    accuracy_line, auc_line = reasons
    assert accuracy_line.startswith("accuracy (overall) = ") and ">= 0.99" in accuracy_line
    baseline_accuracy = [label for _, label in binary_splits["test"]].count("pos") / 300
    assert accuracy_line.endswith(f"FAIL (majority baseline {baseline_accuracy:.6g})")
    assert "auc" in auc_line and "PASS" in auc_line


def test_multiclass_macro_metrics_equal_reference(
    tmp_path: Path, multiclass_model: Artifact
) -> None:
    rows = make_corpus(240, MULTI_LABELS, MULTI_KEYWORDS, [0.5, 0.3, 0.2], seed=3)
    # No train split: the baseline falls back to the eval split, and says so.
    examples = write_examples(str(tmp_path / "examples"), {"test": rows})
    config = EvaluateTextConfig(thresholds={"f1": Bound(lower=0.1)})
    summary, blessing = _run(tmp_path, examples, multiclass_model, config)

    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    want = _expected(rows, MULTI_LABELS, MULTI_KEYWORDS)
    for name, value in want.items():
        assert metrics["model"][name] == pytest.approx(value, abs=TOL), name
    assert metrics["task"] == "multiclass"
    assert metrics["baseline"]["fitted_on"] == "test"
    assert "no training split" in metrics["baseline"]["fitted_on_note"]
    eval_majority = Counter(label for _, label in rows).most_common(1)[0][0]
    assert metrics["baseline"]["majority_class"] == eval_majority
    assert summary["blessed"] is True


def test_report_names_the_classes_with_no_examples_in_the_eval_split(
    tmp_path: Path, multiclass_model: Artifact
) -> None:
    # "science" is a class of the model with no test example: its one-vs-rest curves cannot
    # be drawn, and the report says so instead of leaving it out silently.
    rows = make_corpus(30, MULTI_LABELS, MULTI_KEYWORDS, [0.5, 0.5, 0.0], seed=4)
    assert {label for _, label in rows} == {"sports", "politics"}
    examples = write_examples(str(tmp_path / "examples"), {"test": rows})
    config = EvaluateTextConfig(thresholds={"f1": Bound(lower=0.0)})
    _run(tmp_path, examples, multiclass_model, config)
    page = (tmp_path / "blessing" / "report.html").read_text(encoding="utf-8")
    assert "classes with no examples in 'test' (no ROC or precision-recall curve, no slice " \
           "row): 'science'</p>" in page  # fmt: skip


def test_eval_label_unknown_to_the_model_is_named(tmp_path: Path, binary_model: Artifact) -> None:
    rows = [("good good", "pos"), ("bad", "neg"), ("meh", "neutral"), ("fine", "neutral")]
    examples = write_examples(str(tmp_path / "examples"), {"test": rows}, shards=1)
    config = EvaluateTextConfig(thresholds={"accuracy": Bound(lower=0.5)})
    with pytest.raises(DataError, match=r"'neutral': 2"):
        _run(tmp_path, examples, binary_model, config)


def test_missing_eval_split_names_the_available_splits(
    tmp_path: Path, binary_model: Artifact
) -> None:
    examples = write_examples(str(tmp_path / "examples"), {"train": [("good", "pos")]}, shards=1)
    config = EvaluateTextConfig(thresholds={"accuracy": Bound(lower=0.5)})
    with pytest.raises(DataError, match=r"splits \[.train.\].*got .test."):
        _run(tmp_path, examples, binary_model, config)
