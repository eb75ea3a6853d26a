"""From predictions to a blessing decision: metrics per slice for the candidate, the last
blessed model and the naive baseline, the rules, and the files that record them. Pure (numpy
and JSON); the component shell supplies the predictions.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seqline.components.evaluate.baseline import MajorityBaseline, score_baseline
from seqline.components.evaluate.config import (
    LINEAR,
    MAJORITY,
    EvaluateTextConfig,
    LinearBaselineConfig,
)
from seqline.components.evaluate.metrics import Task, compute_metrics
from seqline.components.evaluate.slicing import rules_for, slice_indices
from seqline.components.evaluate.thresholds import (
    OVERALL,
    Check,
    CheckKind,
    check_beat_baseline,
    check_bounds,
    check_changes,
    json_number,
)
from seqline.pipeline.artifacts import Blessing, Model
from seqline.storage import filesystem

if TYPE_CHECKING:  # linear_baseline imports TensorFlow; series evaluate never needs it
    from seqline.components.evaluate.linear_baseline import LinearRefit

CHECKS_FILE = Blessing.CHECKS_FILE
METRICS_FILE = Blessing.METRICS_FILE
CANDIDATE = "candidate"
BASELINE_MODEL = "baseline_model"
LINEAR_BASELINE = "linear_baseline"


@dataclass(frozen=True)
class SliceResult:
    """Metrics of one slice.

    Attributes:
        key: "overall" or a slice key (see slicing.py).
        count: eval examples in the slice.
        metrics: the candidate's metrics (NaN where undefined, e.g. an empty slice).
        naive_metrics: the majority-class baseline's metrics on the same examples.
        model_baseline_metrics: the last blessed model's metrics, None without one.
        linear_metrics: the linear baseline's metrics, None when it was not trained.
    """

    key: str
    count: int
    metrics: Mapping[str, float]
    naive_metrics: Mapping[str, float]
    model_baseline_metrics: Mapping[str, float] | None
    linear_metrics: Mapping[str, float] | None = None


@dataclass(frozen=True)
class LinearBaselineInfo:
    """How the linear baseline was trained (linear_baseline.py).

    Attributes:
        trained_on: the split it was trained on (the candidate's training split).
        train_examples: examples in that split.
        seconds: wall time of featurising and training it.
        config: its settings.
        validated_on: the split it early-stopped on, or None (its whole step budget ran).
        epochs: passes run; best_epoch: the pass whose weights were kept (0: not recorded).
        refit: how it was then refit on trained_on + the candidate's refit split
            (linear_baseline.LinearRefit), or None.
    """

    trained_on: str
    train_examples: int
    seconds: float
    config: LinearBaselineConfig
    validated_on: str | None = None
    epochs: int = 0
    best_epoch: int = 0
    refit: LinearRefit | None = None

    def trained_on_note(self) -> str:
        """What it was trained on, e.g. "trained on the 'train' split (240 examples)", or
        "trained on 'train' + 'eval' (300 examples; refit for 8 passes after early stopping
        on 'eval')"."""
        refit = self.refit
        if refit is None:
            return f"trained on the '{self.trained_on}' split ({self.train_examples} examples)"
        stopping = (
            f"after early stopping on '{self.validated_on}'"
            if self.validated_on
            else "(its first fit's whole budget: no validation split)"
        )
        return (
            f"trained on '{self.trained_on}' + '{refit.split}' ({refit.examples} examples; "
            f"refit for {refit.passes} passes {stopping})"
        )


@dataclass(frozen=True)
class BaselineModelInfo:
    """Which blessed model the candidate was compared with (None fields: there was none).

    Attributes:
        uri, fingerprint: the baseline Model artifact; None when there is no baseline model.
        note: how it was chosen, or why there is none (e.g. "first run").
    """

    uri: str | None
    fingerprint: str | None
    note: str
    version: int | None = None


FIRST_RUN_NOTE = "no blessed baseline model yet: first run"


def baseline_model_info(
    baseline: Model | None, model_name: str, why_none: str | None = None
) -> BaselineModelInfo:
    """What the resolved `baseline_model` input (the last blessed model of `model_name`, see
    pipeline/resolvers.py LatestBlessedModel) was; `version` is the serving version it was
    pushed as, when it was pushed. Without one, the note is `why_none`, the resolver's reason
    (ctx.resolved_notes: first run, or only this candidate is blessed...), else "first run"."""
    if baseline is None:
        return BaselineModelInfo(None, None, why_none or FIRST_RUN_NOTE)
    version = baseline.properties.get("pushed_version")
    shown = f", pushed as version {version}" if version is not None else ""
    return BaselineModelInfo(
        baseline.uri,
        baseline.fingerprint,
        f"latest model blessed as '{model_name}'{shown}",
        int(version) if version is not None else None,
    )


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one candidate.

    Attributes:
        labels: the model's label names (index = class id).
        task: "binary" or "multiclass" (decides how precision/recall/F1/AUC average).
        baseline: the fitted majority-class baseline.
        slices: SliceResult per slice, "overall" first.
        checks: one Check per rule and slice: overall bounds, baseline comparisons, change
            thresholds, then per-slice rules.
        baseline_model: which blessed model was the comparison point (or why none).
        linear: how the linear baseline was trained; None when it was not.
    """

    labels: tuple[str, ...]
    task: Task
    baseline: MajorityBaseline
    slices: tuple[SliceResult, ...]
    checks: tuple[Check, ...]
    baseline_model: BaselineModelInfo
    linear: LinearBaselineInfo | None = None

    @property
    def overall(self) -> SliceResult:
        return self.slices[0]

    @property
    def metrics(self) -> Mapping[str, float]:
        """The candidate's overall metrics."""
        return self.overall.metrics

    @property
    def baseline_metrics(self) -> Mapping[str, float]:
        """The majority baseline's overall metrics."""
        return self.overall.naive_metrics

    @property
    def linear_metrics(self) -> Mapping[str, float] | None:
        """The linear baseline's overall metrics (None when it was not trained)."""
        return self.overall.linear_metrics

    @property
    def applied_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.skipped]

    @property
    def blessed(self) -> bool:
        """True when every check passed and at least one was actually applied: a run whose
        rules were all skipped blesses nothing."""
        return bool(self.applied_checks) and all(check.passed for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        reasons = [check.reason for check in self.checks]
        if not self.applied_checks:
            reasons.append("no rule could be applied (all skipped): NOT_BLESSED")
        return reasons

    @property
    def averaging(self) -> str:
        if self.task == "binary":
            return f"binary: precision, recall, f1 of the positive class '{self.labels[1]}'"
        return "macro: unweighted mean over classes present in labels or predictions"


def evaluate_scored(
    label_ids: np.ndarray,
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    labels: Sequence[str],
    task: Task,
    naive: MajorityBaseline,
    config: EvaluateTextConfig,
    *,
    features: Mapping[str, np.ndarray] | None = None,
    lengths: np.ndarray | None = None,
    baseline_model: BaselineModelInfo | None = None,
    linear: LinearBaselineInfo | None = None,
) -> Evaluation:
    """Scores candidate, baseline model, linear and naive baselines per slice and applies the
    rules.

    Args:
        label_ids: int [n] true classes.
        predictions: "candidate" (required) and optionally "baseline_model" and
            "linear_baseline" -> (probabilities float [n, k], class_ids int [n]).
        labels: the k label names; task: "binary" | "multiclass".
        naive: the majority baseline (baseline.fit_majority_baseline).
        config: thresholds, change thresholds, slicing and per-slice rules.
        features: slice feature -> object [n] of str (required for configured features).
        lengths: int [n] words per text (required for length buckets).
        baseline_model: which model "baseline_model" predictions come from, or why none.
        linear: how the "linear_baseline" predictions' model was trained.

    Raises:
        ValueError: config.beat_baseline names "linear" but there are no linear predictions.
    """
    label_ids = np.asarray(label_ids, dtype=np.int64)
    n = len(label_ids)
    lengths = np.zeros(n, dtype=np.int64) if lengths is None else np.asarray(lengths)
    groups = slice_indices(features or {}, lengths, config.slicing)
    has_baseline_model = BASELINE_MODEL in predictions
    has_linear = LINEAR_BASELINE in predictions
    if LINEAR in config.beat_rules and not has_linear:
        raise ValueError("beat_baseline names 'linear' but no linear_baseline predictions given")
    info = baseline_model or BaselineModelInfo(None, None, "no baseline model given")
    slices: list[SliceResult] = []
    checks: list[Check] = []
    for key, index in groups.items():
        y = label_ids[index]
        probabilities, class_ids = predictions[CANDIDATE]
        metrics = compute_metrics(y, probabilities[index], class_ids[index], task=task)
        naive_metrics = score_baseline(naive, y, task)
        base_metrics = None
        if has_baseline_model:
            base_probabilities, base_ids = predictions[BASELINE_MODEL]
            base_metrics = compute_metrics(y, base_probabilities[index], base_ids[index], task=task)
        linear_metrics = None
        if has_linear:
            linear_probabilities, linear_ids = predictions[LINEAR_BASELINE]
            linear_metrics = compute_metrics(
                y, linear_probabilities[index], linear_ids[index], task=task
            )
        result = SliceResult(key, len(index), metrics, naive_metrics, base_metrics, linear_metrics)
        slices.append(result)
        checks.extend(_slice_checks(result, config, info.note))
    checks.extend(_rules_of_absent_slices(config, set(groups)))
    return Evaluation(
        labels=tuple(labels),
        task=task,
        baseline=naive,
        slices=tuple(slices),
        checks=tuple(checks),
        baseline_model=info,
        linear=linear if has_linear else None,
    )


def _rules_of_absent_slices(config: EvaluateTextConfig, present: set[str]) -> list[Check]:
    """Skipped checks, with the reason, for rules of an exact slice ("source=web") that no eval
    example falls in: such a rule was dropped without a trace, so a blessing looked as if it
    had been judged on that slice."""
    checks: list[Check] = []
    for key, rules in config.slice_thresholds.items():
        if key == OVERALL or key.endswith("=*") or key in present:
            continue
        note = (
            f"no eval example falls in slice {key} (its feature is absent from the examples "
            "or never takes that value)"
        )
        kinds: tuple[tuple[CheckKind, Mapping[str, Any]], ...] = (
            ("bound", rules.thresholds),
            ("change", rules.change_thresholds),
        )
        for kind, names in kinds:
            checks.extend(
                Check(
                    metric=m,
                    kind=kind,
                    value=float("nan"),
                    passed=True,
                    slice=key,
                    skipped=True,
                    note=note,
                )
                for m in names
            )
    return checks


def _slice_checks(result: SliceResult, config: EvaluateTextConfig, no_baseline: str) -> list[Check]:
    """The checks of one slice: the top-level rules on "overall", then its slice rules."""
    key = result.key
    bounds: dict = {}
    changes: dict = {}
    beat: Mapping[str, tuple[str, ...]] = {}
    if key == OVERALL:
        bounds, changes, beat = (
            dict(config.thresholds),
            dict(config.change_thresholds),
            config.beat_rules,
        )
    rules = rules_for(key, config.slice_thresholds)
    if rules is not None:
        bounds.update(rules.thresholds)
        changes.update(rules.change_thresholds)
    if not (bounds or changes or beat):
        return []
    min_examples = config.slicing.min_examples
    if key != OVERALL and result.count < min_examples:
        note = f"slice has {result.count} eval examples, fewer than min_examples {min_examples}"
        return [
            Check(
                metric=m,
                kind=kind,  # type: ignore[arg-type]  # one of the CheckKind literals above
                value=float(result.metrics[m]),
                passed=True,
                slice=key,
                skipped=True,
                note=note,
            )  # fmt: skip
            for kind, names in (("bound", bounds), ("change", changes))
            for m in names
        ]
    checks = check_bounds(
        result.metrics,
        bounds,
        result.naive_metrics,
        slice_key=key,
        model_baseline=result.model_baseline_metrics,
    )
    for against, names in beat.items():
        reference = result.naive_metrics if against == MAJORITY else result.linear_metrics
        assert reference is not None  # evaluate_scored checked the linear predictions exist
        checks += check_beat_baseline(
            result.metrics,
            reference,
            names,
            config.baseline_margin,
            slice_key=key,
            against=against,
        )
    note = no_baseline
    if result.model_baseline_metrics is not None and result.count == 0:
        note = "slice is empty"
    checks += check_changes(
        result.metrics,
        result.model_baseline_metrics if result.count else None,
        changes,
        slice_key=key,
        skip_note=note,
    )
    return checks


def _json_metrics(metrics: Mapping[str, float] | None) -> dict[str, float | None] | None:
    if metrics is None:
        return None
    return {name: json_number(value) for name, value in metrics.items()}


def metrics_document(evaluation: Evaluation, eval_split: str) -> dict[str, Any]:
    """The content of metrics.json (NaN written as null)."""
    baseline = evaluation.baseline
    info = evaluation.baseline_model
    return {
        "eval_split": eval_split,
        "labels": list(evaluation.labels),
        "task": evaluation.task,
        "averaging": evaluation.averaging,
        "model": _json_metrics(evaluation.metrics),
        "baseline": {
            "kind": "majority_class",
            "fitted_on": baseline.source,
            "fitted_on_note": (
                f"label counts of the eval split '{eval_split}' (no training split available)"
                if baseline.source == eval_split
                else f"label counts of the training split '{baseline.source}'"
            ),
            "majority_class": evaluation.labels[baseline.majority_id],
            "label_counts": dict(baseline.counts),
            "metrics": _json_metrics(evaluation.baseline_metrics),
        },
        "baseline_model": {
            "uri": info.uri,
            "fingerprint": info.fingerprint,
            "note": info.note,
            "metrics": _json_metrics(evaluation.overall.model_baseline_metrics),
        },
        "linear_baseline": _linear_document(evaluation, eval_split),
        "slices": {
            s.key: {
                "count": s.count,
                "model": _json_metrics(s.metrics),
                "majority_baseline": _json_metrics(s.naive_metrics),
                "baseline_model": _json_metrics(s.model_baseline_metrics),
                "linear_baseline": _json_metrics(s.linear_metrics),
            }
            for s in evaluation.slices
        },
    }


def _linear_document(evaluation: Evaluation, eval_split: str) -> dict[str, Any] | None:
    """metrics.json's "linear_baseline": how it was trained (on which split) and its metrics
    on the eval split; None when it was not trained."""
    linear = evaluation.linear
    if linear is None:
        return None
    return {
        "kind": "tfidf_ngram_logistic_regression",
        "trained_on": linear.trained_on,
        "trained_on_note": (
            f"{linear.trained_on_note()}, the candidate's training "
            f"{'data' if linear.refit else 'split'}; scored on '{eval_split}'"
        ),
        "train_examples": linear.train_examples,
        "seconds": round(linear.seconds, 3),
        "validated_on": linear.validated_on,
        "epochs": linear.epochs,
        "best_epoch": linear.best_epoch,
        "refit": dataclasses.asdict(linear.refit) if linear.refit else None,
        "settings": dataclasses.asdict(linear.config),
        "metrics": _json_metrics(evaluation.linear_metrics),
    }


def checks_document(evaluation: Evaluation, model_uri: str, model_fingerprint: str) -> dict:
    """The content of checks.json: the structured checks behind the verdict, and which model
    was judged against which. (The verdict and its reasons are the Blessing's properties.)"""
    info = evaluation.baseline_model
    return {
        "checks": [check.to_json() for check in evaluation.checks],
        "model": {"uri": model_uri, "fingerprint": model_fingerprint},
        "baseline_model": {
            "uri": info.uri,
            "fingerprint": info.fingerprint,
            "version": info.version,
            "note": info.note,
        },
    }


def write_evidence(blessing: Blessing, metrics_doc: Mapping, checks_doc: Mapping) -> None:
    """Writes metrics.json and checks.json into the Blessing (local or gs:// / s3://)."""
    filesystem.write_text(blessing.path(METRICS_FILE), json.dumps(metrics_doc, indent=2))
    filesystem.write_text(blessing.path(CHECKS_FILE), json.dumps(checks_doc, indent=2))


def rounded(value: float, digits: int = 4) -> float | None:
    """A metric for a summary table: rounded, NaN/inf as None."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)
