"""evaluate and the models' split lineage: a candidate fitted (through warm start) under another
split definition than the Examples' is refused, and a last blessed model fitted under another
one is set aside instead of compared on records it may have been fitted on."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest

from seqline.components.evaluate.config import EvaluateTextConfig
from seqline.components.evaluate.split_policy import (
    baseline_set_aside,
    check_candidate_lineage,
    judge_lineages,
)
from seqline.components.evaluate.text_component import COMPONENT
from seqline.pipeline.artifact import Artifact, ArtifactType, new_artifact
from seqline.pipeline.errors import DataError
from tests.components.context import make_context
from tests.components.evaluate.keyword_model import (
    BINARY_KEYWORDS,
    BINARY_LABELS,
    make_corpus,
    make_model_artifact,
    write_examples,
)

SPLIT = {
    "ingest": "ingest_text",
    "split_by": "hash",
    "ratios": {"eval": 0.1, "test": 0.4, "train": 0.5},
    "key": "standardized_text",
}
OLD_SPLIT = {**SPLIT, "ratios": {"eval": 0.1, "test": 0.1, "train": 0.8}}
CHANGE = (
    'ratios: {"eval": 0.1, "test": 0.1, "train": 0.8} -> {"eval": 0.1, "test": 0.4, "train": 0.5}'
)


# -- the policy (pure) --------------------------------------------------------------------------


def test_a_candidate_fitted_under_another_split_is_refused_saying_why_and_how() -> None:
    with pytest.raises(DataError) as raised:
        check_candidate_lineage("/m", [OLD_SPLIT, SPLIT], SPLIT, "test", False)
    message = str(raised.value)
    assert "expected a candidate fitted only under these Examples' split definition" in message
    assert (
        "the candidate /m was fitted (through warm start) on Examples split differently from "
        f"these ({CHANGE})"
    ) in message
    assert "records it was fitted on may be in 'test'" in message
    assert "train.warm_start: false" in message and "allow_trainer_split: true" in message
    accepted = check_candidate_lineage("/m", [OLD_SPLIT], SPLIT, "test", True)
    assert accepted is not None and accepted.startswith("split lineage: the candidate /m")
    assert accepted.endswith("(accepted: evaluate.allow_trainer_split)")


def test_a_matching_or_unknown_candidate_lineage_passes() -> None:
    assert check_candidate_lineage("/m", [SPLIT], SPLIT, "test", False) is None
    # A model or an ingest from outside seqline that records nothing: nothing to compare.
    assert check_candidate_lineage("/m", None, SPLIT, "test", False) is None
    assert check_candidate_lineage("/m", [OLD_SPLIT], None, "test", False) is None


def test_a_baseline_model_under_another_or_no_split_is_set_aside() -> None:
    assert baseline_set_aside("/b", [SPLIT], SPLIT, "test") is None
    assert baseline_set_aside("/b", [OLD_SPLIT], None, "test") is None
    other = baseline_set_aside("/b", [OLD_SPLIT], SPLIT, "test")
    assert other == (
        f"the last blessed model /b was set aside: it was fitted on Examples split differently "
        f"({CHANGE}), so its figures on 'test' may include records it was fitted on; change "
        "thresholds resume with the first model blessed under this split"
    )
    legacy = baseline_set_aside("/b", None, SPLIT, "test")
    assert legacy is not None and "it records no split lineage" in legacy


def test_a_candidate_fitted_on_the_scored_split_is_refused_refit_included() -> None:
    # A refit model's weights were fitted on train + its early-stopping split too.
    with pytest.raises(DataError) as raised:
        check_candidate_lineage("/m", [SPLIT], SPLIT, "eval", False, ["train", "eval"])
    message = str(raised.value)
    assert "expected a candidate never fitted on eval_split 'eval'" in message
    assert (
        "the candidate /m was fitted on 'eval' itself (its fitted splits: 'train', 'eval')"
        in message
    )
    assert "train.refit" in message and "allow_trainer_split: true" in message
    assert check_candidate_lineage("/m", [SPLIT], SPLIT, "test", False, ["train", "eval"]) is None
    accepted = check_candidate_lineage("/m", [OLD_SPLIT], SPLIT, "eval", True, ["train", "eval"])
    assert accepted is not None and accepted.startswith("fitted splits: the candidate /m")
    assert "; split lineage: the candidate /m" in accepted  # both reasons are recorded


def test_judge_lineages_reads_the_models_fitted_splits() -> None:
    refit = new_artifact(
        ArtifactType.MODEL,
        "/m",
        "m",
        properties={"train_split": "train", "refit": {"split": "test", "epochs": 3}},
    )
    config = EvaluateTextConfig(beat_baseline=("accuracy",))  # eval_split 'test'
    with pytest.raises(DataError, match="fitted on 'test' itself"):
        judge_lineages(refit, None, SPLIT, config, lambda line: None)
    lines: list[str] = []
    allowed = dataclasses.replace(config, allow_trainer_split=True)
    accepted, set_aside = judge_lineages(refit, None, SPLIT, allowed, lines.append)
    assert accepted is not None and accepted.startswith("fitted splits:") and set_aside is None
    assert lines == [accepted]


# -- the component ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    rows = {
        "train": make_corpus(60, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=3),
        "test": make_corpus(80, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=4),
    }
    artifact = write_examples(str(tmp_path_factory.mktemp("examples")), rows)
    artifact.properties["split_definition"] = SPLIT
    return artifact


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return make_model_artifact(
        str(tmp_path_factory.mktemp("model")), BINARY_LABELS, BINARY_KEYWORDS, "cand"
    )


def _with_lineage(model: Artifact, lineage: list[dict] | None, fingerprint: str) -> Artifact:
    properties = {**model.properties, "split_lineage": lineage}
    return dataclasses.replace(model, fingerprint=fingerprint, properties=properties)


def _evaluate(
    tmp_path: Path,
    examples: Artifact,
    model: Artifact,
    baseline: Artifact | None = None,
    **config: object,
) -> tuple[dict, Artifact]:
    out = tmp_path / f"blessing-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    blessing = Artifact(ArtifactType.BLESSING, str(out), "b")
    ctx = make_context(
        config=EvaluateTextConfig(
            model_name="m",
            thresholds={"accuracy": {"lower": 0.5}},
            change_thresholds={"accuracy": {"absolute": -0.01}},
            **config,  # type: ignore[arg-type]
        ),
        inputs={"examples": examples, "model": model},
        outputs={"blessing": blessing},
        resolved={"baseline_model": baseline},
    )
    return dict(COMPONENT.executor(ctx)), blessing


@pytest.mark.slow  # scores SavedModels
def test_evaluate_refuses_a_candidate_warm_started_under_another_split(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    candidate = _with_lineage(keyword_model, [OLD_SPLIT, SPLIT], "cand")
    with pytest.raises(DataError, match="split lineage includes another"):
        _evaluate(tmp_path, examples, candidate)
    summary, blessing = _evaluate(tmp_path, examples, candidate, allow_trainer_split=True)
    assert summary["blessed"] is True  # knowingly accepted, and said so
    assert any(r.startswith("split lineage: the candidate") for r in blessing.properties["reasons"])


@pytest.mark.slow
def test_evaluate_sets_aside_a_baseline_model_fitted_under_another_split(
    tmp_path: Path, examples: Artifact, keyword_model: Artifact
) -> None:
    candidate = _with_lineage(keyword_model, [SPLIT], "cand")
    old = _with_lineage(keyword_model, [OLD_SPLIT], "old")
    summary, blessing = _evaluate(tmp_path, examples, candidate, baseline=old)
    assert summary["baseline_model_accuracy"] is None  # not scored
    assert blessing.properties["baseline_model_uri"] is None
    reasons = blessing.properties["reasons"]
    assert (
        "accuracy (overall) change vs baseline model: SKIPPED (the last blessed model "
        f"{old.uri} was set aside: it was fitted on Examples split differently ({CHANGE})"
    ) in reasons[-1]
    assert summary["blessed"] is True  # the value threshold still decides
    # Under the same split the baseline is compared as before.
    same = _with_lineage(keyword_model, [SPLIT], "same")
    summary, blessing = _evaluate(tmp_path, examples, candidate, baseline=same)
    assert summary["baseline_model_accuracy"] == summary["accuracy"]
    assert blessing.properties["baseline_model_uri"] == same.uri
