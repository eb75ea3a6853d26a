"""EvaluateTextConfig: what blesses a text classifier (evaluate_text). Pure (no TensorFlow):
validated before any run.

YAML:
    evaluate:
      thresholds:                       # value bounds on the overall metrics
        accuracy: {lower: 0.7}
        loss: {upper: 0.6}
      beat_baseline: [accuracy]         # must beat the majority-class baseline
      change_thresholds:                # against the last blessed model (skipped on a first run)
        accuracy: {absolute: -0.01}     #   may drop by at most 0.01
        loss: {relative: 0.05}          #   may rise by at most 5%
      slicing: {features: [source], length_buckets: [50, 200], min_examples: 20}
      slice_thresholds:
        "length=*": {thresholds: {accuracy: {lower: 0.6}}}
        "source=web": {change_thresholds: {accuracy: {absolute: 0}}}

A forecaster (series pipeline, evaluate_series) has its own config: forecast_config.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from seqline.components.evaluate.metrics import METRIC_NAMES
from seqline.components.evaluate.slicing import SliceRules, Slicing, check_rule_keys
from seqline.components.evaluate.thresholds import (
    Bound,
    ChangeThreshold,
    check_metric_names,
    coerce_rules,
)
from seqline.pipeline.errors import ConfigError


@dataclass(frozen=True)
class EvaluateTextConfig:
    """What blesses a text classifier.

    Attributes:
        thresholds: metric name -> Bound(lower, upper) on the overall metrics; names from
            metrics.METRIC_NAMES (loss, accuracy, auc, precision, recall, f1, example_count).
        beat_baseline: metrics on which the candidate must beat the majority-class baseline
            (strictly, by more than baseline_margin). Default ().
        baseline_margin: required lead over the majority baseline, in the metric's units.
        change_thresholds: metric -> ChangeThreshold against the last blessed model of the same
            pipeline and model_name (see thresholds.ChangeThreshold). Skipped, and recorded as
            skipped, when there is no such model yet. Default {}.
        slicing: slices to compute (categorical features, length buckets). Default none.
        slice_thresholds: slice key ("overall", "source=web", "length=[0,50)") or wildcard
            ("source=*", "length=*") -> SliceRules(thresholds, change_thresholds).
        model_name: which earlier blessings count as baselines: those evaluate recorded with
            the same model_name in the same pipeline. Default "" = the node id that produced
            the Model (e.g. "train").
        eval_split: split of the Examples artifact to score, and so the split every figure of
            metrics.json, the report and the blessing is on. Default "test": ingest makes
            train/eval/test, train fits on train and early-stops (and picks its best weights)
            on eval, so test is the only split the trainer never saw. A pipeline whose
            eval_split is a split the trainer used is refused before it runs
            (split_policy.py) unless allow_trainer_split is set.
        allow_trainer_split: accept an eval_split the trainer used (train, the early-stopping
            split, or the split the transform fitted on); its figures are then optimistic and
            the blessing is decided on data the model was selected on. Default False.
        baseline_split: split whose label counts fit the majority baseline. Default "train";
            if the artifact has no such split (or None), the eval split's counts are used and
            metrics.json says so.
        batch_size: serialized examples per serving-signature call. Default 1024.
        report: write report.html (plots embedded as PNG). Default True.

    At least one value threshold (overall or per slice) or beat_baseline metric is required:
    change thresholds alone would bless the first model with no check at all.
    """

    thresholds: dict[str, Bound] = field(default_factory=dict)
    beat_baseline: tuple[str, ...] = ()
    baseline_margin: float = 0.0
    change_thresholds: dict[str, ChangeThreshold] = field(default_factory=dict)
    slicing: Slicing = field(default_factory=Slicing)
    slice_thresholds: dict[str, SliceRules] = field(default_factory=dict)
    model_name: str = ""
    eval_split: str = "test"
    allow_trainer_split: bool = False
    baseline_split: str | None = "train"
    batch_size: int = 1024
    report: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", coerce_rules(self.thresholds, Bound, "thresholds"))
        object.__setattr__(
            self,
            "change_thresholds",
            coerce_rules(self.change_thresholds, ChangeThreshold, "change_thresholds"),
        )
        if isinstance(self.slicing, Mapping):
            object.__setattr__(self, "slicing", Slicing(**self.slicing))
        object.__setattr__(
            self,
            "slice_thresholds",
            coerce_rules(self.slice_thresholds, SliceRules, "slice_thresholds"),
        )
        object.__setattr__(self, "beat_baseline", tuple(self.beat_baseline))
        check_metric_names(self.thresholds, "thresholds")
        check_metric_names(self.beat_baseline, "beat_baseline")
        check_metric_names(self.change_thresholds, "change_thresholds")
        check_rule_keys(list(self.slice_thresholds), self.slicing)
        has_value_rule = (
            bool(self.thresholds)
            or bool(self.beat_baseline)
            or any(rules.thresholds for rules in self.slice_thresholds.values())
        )
        if not has_value_rule:
            hint = (
                " (change_thresholds alone are skipped on the first run, which would bless "
                "it unchecked)"
                if self.change_thresholds
                else ""
            )
            raise ConfigError(
                "thresholds: expected at least one threshold or beat_baseline metric, got "
                f"none{hint}; a model is never blessed by default. Add e.g. "
                "`thresholds: {accuracy: {lower: 0.7}}` or `beat_baseline: [accuracy]` "
                f"(metrics: {list(METRIC_NAMES)})"
            )
        if not self.baseline_margin >= 0:
            raise ConfigError(
                f"baseline_margin: expected a number >= 0, got {self.baseline_margin!r}"
            )
        if not self.eval_split:
            raise ConfigError("eval_split: expected a split name such as 'test', got ''")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: expected an integer >= 1, got {self.batch_size}")
