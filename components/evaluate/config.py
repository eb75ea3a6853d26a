"""EvaluateTextConfig: what blesses a text classifier (evaluate_text). Pure (no TensorFlow):
validated before any run.

YAML:
    evaluate:
      thresholds:                       # value bounds on the overall metrics
        accuracy: {lower: 0.7}
        loss: {upper: 0.6}
      beat_baseline: [accuracy]         # must beat the majority-class baseline, or per baseline:
      # beat_baseline: {majority: [accuracy], linear: [accuracy]}
      linear_baseline: {}               # train the linear baseline even if no rule names it
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

MAJORITY = "majority"
LINEAR = "linear"
# The baselines a `beat_baseline` rule can name.
BASELINES = (MAJORITY, LINEAR)


def _beat_rules(value: object) -> dict[str, tuple[str, ...]]:
    """beat_baseline as {baseline: metrics}: a list means the majority baseline. Raises
    ConfigError for unknown baselines or metrics."""
    if isinstance(value, str):
        raise ConfigError(f"beat_baseline: expected a list of metrics or a mapping, got {value!r}")
    if isinstance(value, Mapping):
        rules = {str(name): metrics for name, metrics in value.items()}
    else:
        rules = {MAJORITY: value}
    unknown = sorted(set(rules) - set(BASELINES))
    if unknown:
        raise ConfigError(
            f"beat_baseline: unknown baseline(s) {unknown}; expected a list of metrics (beat "
            f"the majority class) or a mapping from {list(BASELINES)} to metrics, e.g. "
            "{majority: [accuracy], linear: [accuracy]}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for name, metrics in rules.items():
        if isinstance(metrics, str) or not isinstance(metrics, list | tuple):
            raise ConfigError(
                f"beat_baseline.{name}: expected a list of metric names, got {metrics!r}"
            )
        check_metric_names(metrics, f"beat_baseline.{name}")
        if metrics:
            out[name] = tuple(str(m) for m in metrics)
    return out


@dataclass(frozen=True)
class LinearBaselineConfig:
    """The linear baseline's settings (linear_baseline.py): TF-IDF-weighted hashed word n-grams
    and a softmax regression, trained on the split the candidate was trained on.

    Attributes:
        ngrams: largest word n-gram (1 = words, 2 = words and word pairs). Default 2.
        buckets: hash buckets of the n-grams (the weight matrix is [buckets, labels]).
            Default 2**18.
        min_df: buckets seen in fewer training documents are dropped. Default 2.
        epochs: the fewest passes over the training split when early stopping does not end
            training sooner (without a validation split, always). Default 5.
        min_steps: the step budget: passes are added until at least this many Adam steps
            are taken (at most max_epochs passes), so a small split (a few batches per pass)
            is trained as long as a large one instead of stopping far from convergence.
            Default 600.
        max_epochs: the most passes over the training split. Default 300.
        validation_split: a held-out split of the same Examples to stop on: after each pass,
            its loss is measured and training stops once it has not improved for
            patience_steps steps; the weights of the best pass are kept (the candidate's own
            early stopping, on the same split). Used only when the Examples have it and it is
            neither the training split nor the split evaluate scores; else the whole budget
            is trained. Default "eval"; null: never.
        patience_steps: steps without a better validation loss before stopping (rounded up
            to whole passes, at least one). Default 150.
        batch_size: examples per Adam step. Default 256.
        learning_rate: Adam's step size. Default 0.02.
        l2: L2 penalty on the weights, per example (scikit-learn's 1 / (2 C n)). Default 1e-6.
        seed: shuffles the mini-batches; same data, settings and seed give the same weights.
            Default 0.
    """

    ngrams: int = 2
    buckets: int = 2**18
    min_df: int = 2
    epochs: int = 5
    min_steps: int = 600
    max_epochs: int = 300
    validation_split: str | None = "eval"
    patience_steps: int = 150
    batch_size: int = 256
    learning_rate: float = 0.02
    l2: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        integers = (
            ("ngrams", 1),
            ("buckets", 2),
            ("min_df", 1),
            ("epochs", 1),
            ("min_steps", 0),
            ("max_epochs", 1),
            ("patience_steps", 1),
        )
        for name, low in integers:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"linear_baseline.{name}: expected an integer >= {low}, got {value!r}"
                )
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or (self.batch_size < 1)
        ):
            raise ConfigError(
                f"linear_baseline.batch_size: expected an integer >= 1, got {self.batch_size!r}"
            )
        if self.max_epochs < self.epochs:
            raise ConfigError(
                f"linear_baseline.max_epochs: expected at least epochs ({self.epochs}), got "
                f"{self.max_epochs}; raise max_epochs or lower epochs"
            )
        if self.validation_split is not None and not (
            isinstance(self.validation_split, str) and self.validation_split
        ):
            raise ConfigError(
                "linear_baseline.validation_split: expected a split name or null, got "
                f"{self.validation_split!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"linear_baseline.seed: expected an integer, got {self.seed!r}")
        number = (int, float)
        if isinstance(self.learning_rate, bool) or not (
            isinstance(self.learning_rate, number) and self.learning_rate > 0
        ):
            raise ConfigError(
                f"linear_baseline.learning_rate: expected a number > 0, got {self.learning_rate!r}"
            )
        if isinstance(self.l2, bool) or not (isinstance(self.l2, number) and self.l2 >= 0):
            raise ConfigError(f"linear_baseline.l2: expected a number >= 0, got {self.l2!r}")


@dataclass(frozen=True)
class EvaluateTextConfig:
    """What blesses a text classifier.

    Attributes:
        thresholds: metric name -> Bound(lower, upper) on the overall metrics; names from
            metrics.METRIC_NAMES (loss, accuracy, auc, precision, recall, f1, example_count).
        beat_baseline: metrics on which the candidate must beat a baseline (strictly, by more
            than baseline_margin). A list names metrics to beat the majority-class baseline on;
            a mapping names them per baseline: {majority: [accuracy], linear: [accuracy, auc]}
            ("linear" is the TF-IDF n-gram logistic regression of linear_baseline). Stored as
            the mapping. Default {} (no such rule).
        baseline_margin: required lead over each named baseline, in the metric's units.
        linear_baseline: settings of the linear baseline (LinearBaselineConfig), trained in
            evaluate on the split the candidate was trained on and scored on eval_split beside
            it; `{}` trains it with the defaults. Default None: trained only when beat_baseline
            names "linear" (then with the defaults), since it adds seconds to every run.
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
    beat_baseline: tuple[str, ...] | dict[str, tuple[str, ...]] = field(default_factory=dict)
    baseline_margin: float = 0.0
    linear_baseline: LinearBaselineConfig | None = None
    change_thresholds: dict[str, ChangeThreshold] = field(default_factory=dict)
    slicing: Slicing = field(default_factory=Slicing)
    slice_thresholds: dict[str, SliceRules] = field(default_factory=dict)
    model_name: str = ""
    eval_split: str = "test"
    allow_trainer_split: bool = False
    baseline_split: str | None = "train"
    batch_size: int = 1024
    report: bool = True

    @property
    def beat_rules(self) -> dict[str, tuple[str, ...]]:
        """beat_baseline as stored: baseline ("majority" | "linear") -> metrics to beat it on."""
        return _beat_rules(self.beat_baseline)

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
        beat = _beat_rules(self.beat_baseline)
        object.__setattr__(self, "beat_baseline", beat)
        linear = self.linear_baseline
        if isinstance(linear, Mapping):  # Python callers may pass a plain mapping, as YAML does
            linear = LinearBaselineConfig(**linear)
        if linear is None and LINEAR in beat:
            linear = LinearBaselineConfig()
        object.__setattr__(self, "linear_baseline", linear)
        check_metric_names(self.thresholds, "thresholds")
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
