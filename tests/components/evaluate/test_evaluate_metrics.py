"""Pure tests of evaluate's metrics, baseline and blessing rules (numpy only, no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqline.components.evaluate.baseline import fit_majority_baseline, score_baseline
from seqline.components.evaluate.config import EvaluateTextConfig, LinearBaselineConfig
from seqline.components.evaluate.metrics import (
    METRIC_NAMES,
    compute_metrics,
    log_loss,
    macro_ovr_auc,
    roc_auc,
)
from seqline.components.evaluate.thresholds import Bound, check_beat_baseline, check_bounds
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError
from tests.components.evaluate.reference_metrics import (
    ref_auc,
    ref_log_loss,
    ref_macro_auc,
    ref_metrics,
)

TOL = 1e-6


def _random_binary(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    # Rounded to 1 decimal so ties are frequent, within and across classes.
    p = np.clip(np.round(0.35 * labels + rng.random(n) * 0.65, 1), 0.0, 1.0)
    return labels, np.stack([1 - p, p], axis=1)


def _random_multiclass(seed: int, n: int = 150, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = np.round(rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels], 1)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_reference_definitions(seed: int) -> None:
    labels, probabilities = _random_binary(seed)
    predicted = (probabilities[:, 1] >= 0.5).astype(int)
    got = compute_metrics(labels, probabilities, predicted, task="binary")
    want = ref_metrics(labels.tolist(), probabilities.tolist(), predicted.tolist(), binary=True)
    assert set(got) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert got[name] == pytest.approx(want[name], abs=TOL), name


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_metrics_match_reference_definitions(seed: int) -> None:
    labels, probabilities = _random_multiclass(seed)
    predicted = probabilities.argmax(axis=1)
    got = compute_metrics(labels, probabilities, predicted, task="multiclass")
    want = ref_metrics(labels.tolist(), probabilities.tolist(), predicted.tolist(), binary=False)
    for name in METRIC_NAMES:
        assert got[name] == pytest.approx(want[name], abs=TOL), name


def test_auc_ties_count_half() -> None:
    # All scores equal: every positive/negative pair is a tie -> exactly 0.5.
    assert roc_auc([True, False, True, False], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    # One pair tied, three pairs won: (3 + 0.5) / 4.
    assert roc_auc([True, True, False, False], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.875)
    assert roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert roc_auc([True, False], [0.1, 0.9]) == 0.0


def test_auc_is_nan_when_a_class_is_missing() -> None:
    assert math.isnan(roc_auc([True, True], [0.1, 0.9]))
    assert math.isnan(ref_auc([True, True], [0.1, 0.9]))


def test_macro_auc_skips_classes_absent_from_eval() -> None:
    labels, probabilities = _random_multiclass(3, k=4)
    keep = labels != 2  # class 2 never occurs: its one-vs-rest AUC is undefined
    got = macro_ovr_auc(labels[keep], probabilities[keep])
    assert got == pytest.approx(ref_macro_auc(labels[keep].tolist(), probabilities[keep].tolist()))


def test_log_loss_clips_certain_wrong_predictions() -> None:
    labels = np.array([1, 0, 1])
    probabilities = np.array([[1.0, 0.0], [0.2, 0.8], [0.0, 1.0]])
    got = log_loss(labels, probabilities)
    assert math.isfinite(got)
    assert got == pytest.approx(ref_log_loss(labels.tolist(), probabilities.tolist()), abs=TOL)


def test_macro_scores_leave_out_classes_never_seen() -> None:
    # 4 columns but class 3 is neither a label nor a prediction: it must not drag macro-F1 down.
    labels = np.array([0, 0, 1, 2, 2, 1])
    predicted = np.array([0, 1, 1, 2, 0, 1])
    probabilities = np.eye(4)[predicted] * 0.7 + 0.075
    got = compute_metrics(labels, probabilities, predicted, task="multiclass")
    want = ref_metrics(labels.tolist(), probabilities.tolist(), predicted.tolist(), binary=False)
    assert got["f1"] == pytest.approx(want["f1"], abs=TOL)
    assert got["precision"] == pytest.approx(want["precision"], abs=TOL)


def test_majority_baseline_predicts_train_majority_with_prior_probabilities() -> None:
    baseline = fit_majority_baseline({"neg": 30, "pos": 70}, ["neg", "pos"], source="train")
    assert baseline.majority_id == 1
    np.testing.assert_allclose(baseline.prior, [0.3, 0.7])
    eval_labels = np.array([0, 0, 0, 1])  # eval majority is "neg", the baseline still says "pos"
    metrics = score_baseline(baseline, eval_labels, task="binary")
    assert metrics["accuracy"] == pytest.approx(0.25)
    assert metrics["auc"] == pytest.approx(0.5)  # one score for everyone: all pairs tie
    assert metrics["recall"] == pytest.approx(1.0)
    want_loss = ref_log_loss(eval_labels.tolist(), [[0.3, 0.7]] * 4)
    assert metrics["loss"] == pytest.approx(want_loss, abs=TOL)


def test_bounds_report_each_metric_with_value_bound_and_verdict() -> None:
    metrics = {"accuracy": 0.8, "loss": 0.7, "auc": float("nan")}
    baseline = {"accuracy": 0.5, "loss": 0.69, "auc": 0.5}
    thresholds = {"accuracy": Bound(lower=0.7), "loss": Bound(upper=0.6), "auc": Bound(lower=0.5)}
    checks = check_bounds(metrics, thresholds, baseline)
    assert [c.passed for c in checks] == [True, False, False]  # NaN never passes
    assert checks[0].reason == (
        "accuracy (overall) = 0.8, required >= 0.7: PASS (majority baseline 0.5)"
    )
    assert "loss (overall) = 0.7" in checks[1].reason and "<= 0.6" in checks[1].reason
    assert "FAIL" in checks[1].reason
    assert "undefined" in checks[2].reason


def test_beat_baseline_respects_direction_and_margin() -> None:
    baseline = {"accuracy": 0.6, "loss": 0.5}
    checks = check_beat_baseline({"accuracy": 0.65, "loss": 0.45}, baseline, ["accuracy", "loss"])
    assert [c.passed for c in checks] == [True, True]
    checks = check_beat_baseline(
        {"accuracy": 0.65, "loss": 0.45}, baseline, ["accuracy", "loss"], margin=0.1
    )
    assert [c.passed for c in checks] == [False, False]
    # Equal is not better.
    (tie,) = check_beat_baseline({"accuracy": 0.6}, baseline, ["accuracy"])
    assert not tie.passed and "baseline" in tie.reason


def test_config_from_yaml_mapping_builds_bounds() -> None:
    config = build_dataclass(
        EvaluateTextConfig,
        {
            "thresholds": {"accuracy": {"lower": 0.7}, "loss": {"upper": 0.6}},
            "beat_baseline": ["auc"],
        },
        "components.evaluate",
    )
    assert config.thresholds == {"accuracy": Bound(lower=0.7), "loss": Bound(upper=0.6)}
    # A list names metrics to beat the majority baseline on; the linear one is not trained.
    assert config.beat_baseline == {"majority": ("auc",)}
    assert config.linear_baseline is None


def test_config_beat_baseline_per_baseline_trains_the_linear_one() -> None:
    config = build_dataclass(
        EvaluateTextConfig,
        {"beat_baseline": {"majority": ["accuracy"], "linear": ["accuracy", "loss"]}},
        "components.evaluate",
    )
    assert config.beat_rules == {"majority": ("accuracy",), "linear": ("accuracy", "loss")}
    assert config.linear_baseline == LinearBaselineConfig()  # named, so trained (defaults)
    custom = build_dataclass(
        EvaluateTextConfig,
        {"thresholds": {"accuracy": {"lower": 0.5}}, "linear_baseline": {"epochs": 2}},
        "components.evaluate",
    )
    assert custom.beat_rules == {}
    assert custom.linear_baseline == LinearBaselineConfig(epochs=2)  # shown, not a rule


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one threshold"),
        ({"thresholds": {"acuracy": Bound(lower=0.5)}}, "unknown metric(s) ['acuracy']"),
        ({"beat_baseline": ("rmse",)}, "beat_baseline.majority: unknown metric"),
        ({"beat_baseline": {"svm": ["accuracy"]}}, "unknown baseline(s) ['svm']"),
        ({"beat_baseline": {"linear": "accuracy"}}, "expected a list of metric names"),
        ({"beat_baseline": ("accuracy",), "linear_baseline": {"epochs": 0}}, "epochs"),
        ({"beat_baseline": ("accuracy",), "linear_baseline": {"l2": -1.0}}, "linear_baseline.l2"),
        ({"thresholds": {"accuracy": {"lower": 0.9, "upper": 0.1}}}, "lower <= upper"),
        (
            {"thresholds": {"accuracy": {"lower": 1.5}}},
            "accuracy.lower: expected a value in [0, 1]",
        ),
        ({"thresholds": {"auc": {"upper": -0.1}}}, "auc.upper: expected a value in [0, 1]"),
        ({"thresholds": {"accuracy": {}}}, "got neither"),
        ({"thresholds": {"accuracy": {"min": 0.5}}}, "expected keys lower and/or upper"),
        ({"beat_baseline": ("accuracy",), "baseline_margin": -0.1}, "baseline_margin"),
    ],
)
def test_config_rejects_mistakes(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        EvaluateTextConfig(**kwargs)
    assert message in str(excinfo.value)


def test_yaml_error_names_the_field_path() -> None:
    with pytest.raises(ConfigError, match=r"components\.evaluate\.thresholds: unknown metric"):
        build_dataclass(
            EvaluateTextConfig, {"thresholds": {"acc": {"lower": 0.1}}}, "components.evaluate"
        )


def test_yaml_builds_change_thresholds_slicing_and_slice_rules() -> None:
    from seqline.components.evaluate.slicing import SliceRules, Slicing
    from seqline.components.evaluate.thresholds import ChangeThreshold

    config = build_dataclass(
        EvaluateTextConfig,
        {
            "thresholds": {"accuracy": {"lower": 0.7}},
            "change_thresholds": {"loss": {"relative": 0.05, "direction": "lower"}},
            "slicing": {"features": ["source"], "length_buckets": [50, 200]},
            "slice_thresholds": {
                "source=*": {"thresholds": {"accuracy": {"lower": 0.6}}},
                "length=[0,50)": {"change_thresholds": {"accuracy": {"absolute": 0}}},
            },
        },
        "components.evaluate",
    )
    assert config.change_thresholds == {"loss": ChangeThreshold(relative=0.05, direction="lower")}
    assert config.slicing == Slicing(features=("source",), length_buckets=(50, 200))
    assert config.slice_thresholds["source=*"] == SliceRules(thresholds={"accuracy": Bound(0.6)})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"slice_thresholds": {"lang=*": {"thresholds": {"accuracy": {"lower": 0.1}}}}},
            "got 'lang=*'",
        ),
        ({"slicing": {"length_buckets": [200, 50]}}, "strictly increasing"),
        (
            {
                "slicing": {"length_buckets": [50]},
                "slice_thresholds": {"length=[0,40)": {"thresholds": {"auc": {"lower": 0.5}}}},
            },
            "got 'length=[0,40)'",
        ),
        ({"change_thresholds": {"accuracy": {}}}, "got neither"),
        ({"change_thresholds": {"accuracy": {"absolute": 0, "direction": "up"}}}, "direction"),
    ],
)
def test_slice_and_change_config_mistakes_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        EvaluateTextConfig(thresholds={"accuracy": {"lower": 0.5}}, **kwargs)
    assert message in str(excinfo.value)


def test_change_checks_follow_the_direction_and_tfma_semantics() -> None:
    from seqline.components.evaluate.thresholds import ChangeThreshold, check_changes

    base = {"accuracy": 0.80, "loss": 0.50}
    rules = {"accuracy": ChangeThreshold(absolute=-0.01), "loss": ChangeThreshold(relative=0.1)}
    ok = check_changes({"accuracy": 0.795, "loss": 0.54}, base, rules)
    assert [c.passed for c in ok] == [True, True]  # a 0.005 drop, an 8% rise: tolerated
    bad = check_changes({"accuracy": 0.78, "loss": 0.56}, base, rules)
    assert [c.passed for c in bad] == [False, False]
    assert "required relative change <= 0.1: FAIL" in bad[1].reason
    skipped = check_changes({"accuracy": 0.5, "loss": 1.0}, None, rules)
    assert all(c.skipped and c.passed for c in skipped)
