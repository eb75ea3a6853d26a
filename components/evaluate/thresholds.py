"""Blessing rules as data: value bounds, "beat the naive baseline", and change thresholds
against the last blessed model, each overall or per slice.

A rule set is checked against metric dicts (metrics.compute_metrics output) and yields one Check
per rule and slice; the model is blessed when every check passes. Each Check renders as one
human-readable reason line naming the metric, the slice, the value, the bound and the baseline
values, e.g.

    accuracy (overall) = 0.81, required >= 0.7: PASS (majority baseline 0.55, baseline model 0.8)
    loss (length=[0,50)) = 0.52, change vs baseline model 0.5 = +0.02, required change <= 0: FAIL
    auc (overall) change vs baseline model: SKIPPED (no blessed baseline model yet)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from seqline.components.evaluate.metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    UNIT_INTERVAL_METRICS,
)
from seqline.pipeline.errors import ConfigError

OVERALL = "overall"


@dataclass(frozen=True)
class Bound:
    """Value bound on one metric: `lower <= value <= upper`; either side may be omitted.

    YAML: `thresholds: {accuracy: {lower: 0.7}, loss: {upper: 0.6}}`.
    """

    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.lower is None and self.upper is None:
            raise ConfigError(
                "lower, upper: expected at least one of them, got neither; "
                "write e.g. {lower: 0.7} or remove the metric"
            )
        for side in ("lower", "upper"):
            _check_number(getattr(self, side), side)
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ConfigError(
                f"lower, upper: expected lower <= upper, got lower={self.lower} > "
                f"upper={self.upper}; swap them or drop one side"
            )


@dataclass(frozen=True)
class ChangeThreshold:
    """Allowed change of one metric against the last blessed model (TFMA's GenericChange-
    Threshold semantics, so TFX configs carry over).

    delta = candidate - baseline model. With direction "higher" (higher is better) the candidate
    needs `delta >= absolute` and `delta / |baseline| >= relative`; with "lower" it needs
    `delta <= absolute` and `delta / |baseline| <= relative`. So `absolute: 0` means "not worse
    than the baseline model", `absolute: -0.01` on accuracy tolerates a drop of 0.01, and
    `relative: 0.05` on loss tolerates a 5% rise.

    YAML: `change_thresholds: {accuracy: {absolute: -0.01}, loss: {relative: 0.05}}`.

    Attributes:
        absolute: bound on delta in the metric's units; None = not checked.
        relative: bound on delta / |baseline value|; None = not checked. A zero baseline gives
            a relative change of 0 (equal) or +-inf.
        direction: "higher" or "lower" is better; default None = the metric's own direction
            (metrics.HIGHER_IS_BETTER: lower for loss, higher for the rest).
    """

    absolute: float | None = None
    relative: float | None = None
    direction: Literal["higher", "lower"] | None = None

    def __post_init__(self) -> None:
        if self.absolute is None and self.relative is None:
            raise ConfigError(
                "absolute, relative: expected at least one of them, got neither; write e.g. "
                "{absolute: 0} for 'not worse than the last blessed model'"
            )
        for side in ("absolute", "relative"):
            _check_number(getattr(self, side), side)
        if self.direction not in (None, "higher", "lower"):
            raise ConfigError(
                f"direction: expected 'higher' or 'lower' (which way is better), got "
                f"{self.direction!r}"
            )

    def higher_is_better(self, metric: str) -> bool:
        if self.direction is None:
            return HIGHER_IS_BETTER[metric]
        return self.direction == "higher"


def _check_number(value: Any, name: str) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value)
    ):
        raise ConfigError(f"{name}: expected a number, got {value!r}")


def coerce_rules(mapping: Any, kind: type, field_name: str) -> dict[str, Any]:
    """{name: kind} from dataclass instances or plain mappings, so Python callers may pass
    {"lower": 0.7} just as YAML does. Raises ConfigError naming `field_name`."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{field_name}: expected a mapping, got {mapping!r}")
    out = {}
    for name, value in mapping.items():
        if isinstance(value, Mapping):
            try:
                value = kind(**value)
            except TypeError:
                keys = " and/or ".join(kind.__dataclass_fields__)  # type: ignore[attr-defined]
                raise ConfigError(
                    f"{field_name}.{name}: expected keys {keys}, got {sorted(value)}"
                ) from None
        if not isinstance(value, kind):
            raise ConfigError(f"{field_name}.{name}: expected a {kind.__name__}, got {value!r}")
        out[str(name)] = value
    return out


def check_metric_names(names: Iterable[str], field: str) -> None:
    """Raises ConfigError if a name is not one of metrics.METRIC_NAMES, or a Bound on a
    fraction metric (accuracy, auc, precision, recall, f1) lies outside [0, 1] (a lower bound
    of 1.5 would only show as NOT_BLESSED after the whole run)."""
    unknown = sorted(set(names) - set(METRIC_NAMES))
    if unknown:
        raise ConfigError(
            f"{field}: unknown metric(s) {unknown}; expected names from {list(METRIC_NAMES)}"
        )
    if not isinstance(names, Mapping):
        return
    for name, rule in names.items():
        if name not in UNIT_INTERVAL_METRICS or not isinstance(rule, Bound):
            continue
        for side in ("lower", "upper"):
            value = getattr(rule, side)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"{field}.{name}.{side}: expected a value in [0, 1] ({name} is a "
                    f"fraction), got {value}; e.g. {{lower: 0.8}}"
                )


CheckKind = Literal["bound", "beat_baseline", "change"]


@dataclass(frozen=True)
class Check:
    """The outcome of one rule on one slice.

    Attributes:
        metric: metric name.
        kind: "bound" (value within [lower, upper]), "beat_baseline" (beat the naive baseline)
            or "change" (against the last blessed model).
        value: the candidate's value (NaN if undefined on the eval data).
        passed: whether the rule holds (a skipped rule passes).
        lower, upper: for "bound" the bound; for "beat_baseline" the value the candidate had
            to exceed (lower) or stay under (upper); for "change" the bound on the delta.
        baseline: for "beat_baseline" the value of the baseline named by `against`; otherwise
            the naive (majority) baseline's value of the same metric, for context.
        slice: "overall" or a slice key such as "length=[0,50)" or "source=web".
        model_baseline: the last blessed model's value (None when there is none).
        relative: for "change": True when lower/upper bound the relative change.
        skipped: the rule could not apply (first run: no baseline model); recorded, passes.
        note: why it was skipped.
        against: for "beat_baseline": which baseline ("majority" or "linear").
    """

    metric: str
    kind: CheckKind
    value: float
    passed: bool
    lower: float | None = None
    upper: float | None = None
    baseline: float | None = None
    slice: str = OVERALL
    model_baseline: float | None = None
    relative: bool = False
    skipped: bool = False
    note: str = ""
    against: str = ""

    @property
    def reason(self) -> str:
        """One line: metric, slice, value, bound, PASS/FAIL, baseline values."""
        verdict = "PASS" if self.passed else "FAIL"
        subject = f"{self.metric} ({self.slice})"
        value = _fmt(self.value)
        if self.skipped:
            rule = {"change": "change vs baseline model", "bound": "threshold"}.get(
                self.kind, f"beat {self.against or 'majority'} baseline"
            )
            return f"{subject} {rule}: SKIPPED ({self.note})"
        if self.kind == "change":
            base = self.model_baseline if self.model_baseline is not None else float("nan")
            delta = self.value - base
            if self.relative:
                change = f"{_signed(delta / abs(base)) if base else _signed(delta)} relative"
            else:
                change = _signed(delta)
            relation = (
                f">= {_fmt(self.lower)}" if self.lower is not None else f"<= {_fmt(self.upper)}"
            )
            kind = "relative change" if self.relative else "change"
            return (
                f"{subject} = {value}, change vs baseline model {_fmt(base)} = {change}, "
                f"required {kind} {relation}: {verdict}"
            )
        if self.kind == "beat_baseline":
            # The target is baseline +/- margin; show both so the reader sees where it came from.
            target = self.lower if self.lower is not None else self.upper
            margin = (
                abs(target - self.baseline)
                if self.baseline is not None and target is not None
                else float("nan")
            )
            relation = ">" if self.lower is not None else "<"
            return (
                f"{subject} = {value}, required {relation} {_fmt(target)} "
                f"({self.against or 'majority'} baseline {_fmt(self.baseline)} "
                f"{'+' if relation == '>' else '-'} margin {_fmt(margin)}): {verdict}"
            )
        parts = []
        if self.lower is not None:
            parts.append(f">= {_fmt(self.lower)}")
        if self.upper is not None:
            parts.append(f"<= {_fmt(self.upper)}")
        line = f"{subject} = {value}, required {' and '.join(parts)}: {verdict}"
        context = []
        if self.baseline is not None:
            context.append(f"majority baseline {_fmt(self.baseline)}")
        if self.model_baseline is not None:
            context.append(f"baseline model {_fmt(self.model_baseline)}")
        return line + (f" ({', '.join(context)})" if context else "")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("value", "baseline", "model_baseline", "lower", "upper"):
            data[key] = json_number(data[key])
        data["reason"] = self.reason
        return data


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "undefined (NaN)"
    return f"{value:.6g}"


def _signed(value: float) -> str:
    return "undefined (NaN)" if math.isnan(value) else f"{value:+.6g}"


def json_number(value: float | None) -> float | None:
    """NaN and +-inf -> None, because JSON has neither and readers should see 'undefined'."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def check_bounds(
    metrics: Mapping[str, float],
    thresholds: Mapping[str, Bound],
    baseline: Mapping[str, float] | None = None,
    *,
    slice_key: str = OVERALL,
    model_baseline: Mapping[str, float] | None = None,
) -> list[Check]:
    """One Check per bounded metric, in the order given. An undefined (NaN) value fails."""
    checks = []
    for name, bound in thresholds.items():
        value = float(metrics[name])
        passed = not math.isnan(value)
        if bound.lower is not None:
            passed = passed and value >= bound.lower
        if bound.upper is not None:
            passed = passed and value <= bound.upper
        checks.append(
            Check(
                metric=name,
                kind="bound",
                value=value,
                passed=passed,
                lower=bound.lower,
                upper=bound.upper,
                baseline=None if baseline is None else float(baseline[name]),
                slice=slice_key,
                model_baseline=None if model_baseline is None else float(model_baseline[name]),
            )
        )
    return checks


def check_beat_baseline(
    metrics: Mapping[str, float],
    baseline: Mapping[str, float],
    names: Iterable[str],
    margin: float = 0.0,
    *,
    slice_key: str = OVERALL,
    against: str = "majority",
) -> list[Check]:
    """One Check per name: the candidate must be strictly better than the baseline (`against`
    names it: "majority" or "linear") by more than `margin` (higher-is-better metrics: value >
    baseline + margin; loss: value < baseline - margin). Undefined values on either side fail:
    an unmeasurable win is not a win."""
    checks = []
    for name in names:
        value = float(metrics[name])
        base = float(baseline[name])
        if HIGHER_IS_BETTER[name]:
            target = base + margin
            passed = value > target
            lower, upper = target, None
        else:
            target = base - margin
            passed = value < target
            lower, upper = None, target
        if math.isnan(value) or math.isnan(base):
            passed = False
        checks.append(
            Check(
                metric=name,
                kind="beat_baseline",
                value=value,
                passed=passed,
                lower=lower,
                upper=upper,
                baseline=base,
                slice=slice_key,
                against=against,
            )
        )
    return checks


def check_changes(
    metrics: Mapping[str, float],
    model_baseline: Mapping[str, float] | None,
    thresholds: Mapping[str, ChangeThreshold],
    *,
    slice_key: str = OVERALL,
    skip_note: str = "no blessed baseline model yet: first run",
) -> list[Check]:
    """Checks of each change threshold against the baseline model's metrics.

    One Check per (metric, absolute/relative side). Without a baseline model (first run, or a
    slice the baseline has no examples in) each threshold yields one skipped, passing Check
    with `skip_note`, so the record says the rule was not applied and why. An undefined value
    on either side fails.
    """
    checks = []
    for name, threshold in thresholds.items():
        value = float(metrics[name])
        if model_baseline is None:
            checks.append(
                Check(
                    metric=name,
                    kind="change",
                    value=value,
                    passed=True,
                    slice=slice_key,
                    skipped=True,
                    note=skip_note,
                )
            )
            continue
        base = float(model_baseline[name])
        delta = value - base
        higher = threshold.higher_is_better(name)
        for relative, bound in ((False, threshold.absolute), (True, threshold.relative)):
            if bound is None:
                continue
            change = _relative_change(delta, base) if relative else delta
            passed = change >= bound if higher else change <= bound
            if math.isnan(value) or math.isnan(base):
                passed = False
            checks.append(
                Check(
                    metric=name,
                    kind="change",
                    value=value,
                    passed=bool(passed),
                    lower=bound if higher else None,
                    upper=None if higher else bound,
                    slice=slice_key,
                    model_baseline=base,
                    relative=relative,
                )
            )
    return checks


def _relative_change(delta: float, base: float) -> float:
    if base != 0:
        return delta / abs(base)
    if delta == 0:
        return 0.0
    return math.copysign(math.inf, delta)
