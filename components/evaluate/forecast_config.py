"""EvaluateSeriesConfig: what blesses a forecaster (evaluate_series, the series pipeline).
Pure (no numpy or TensorFlow): validated before any run.

YAML:
    evaluate:
      season: 48                        # seasonal naive: the value one season earlier
      moving_average: 48                # moving-average baseline: mean of the last k values
      mase_season: 336                  # MASE's in-sample naive error: lag m (1 = persistence;
                                        #   left out: the cadence's longest cycle < lookback)
      thresholds: {mase: {upper: 0.8}}  # bounds on mae, rmse, mape, smape, mase
      beat_baselines:                   # baseline -> required relative improvement of
        seasonal_naive: 0.1             #   compare_metric (0.1: at least 10% lower)
      compare_metric: mae
      change_thresholds:                # against the last blessed forecaster (skipped on a
        mae: {relative: 0.05}           #   first run): mae may rise by at most 5%
      allow_incomparable_baseline: false  # true: skip change_thresholds when the last blessed
                                        #   forecaster cannot forecast these windows
      plot_windows: 3                   # eval windows drawn in forecast_vs_actual.png
      eval_split: test
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from seqline.components.evaluate.thresholds import Bound, ChangeThreshold, coerce_rules
from seqline.pipeline.errors import ConfigError

FORECAST_METRICS: tuple[str, ...] = ("mae", "rmse", "mape", "smape", "mase")
BASELINES: tuple[str, ...] = ("persistence", "seasonal_naive", "moving_average")


@dataclass(frozen=True)
class EvaluateSeriesConfig:
    """How a forecaster is scored and blessed (see forecast_evaluation.py).

    Attributes:
        season: season length in steps for the seasonal-naive baseline (e.g. 48 half-hours,
            336 for a week); must be <= the windows' lookback. Default 1.
        moving_average: k of the moving-average baseline (<= lookback). Default 3.
        mase_season: lag of MASE's in-sample naive error. Default None: the detected
            seasonal period, the longest natural cycle of the windows' frequency shorter than
            the lookback (half-hourly: 336 a week, else 48 a day; daily: 7; monthly: 12),
            else 1 (see seasonality.py); the lag used is in metrics.json.
        thresholds: metric -> Bound(lower, upper) on the candidate's overall metrics; metrics:
            mae, rmse, mape, smape, mase. Default {}.
        beat_baselines: baseline (persistence, seasonal_naive, moving_average) -> margin m >= 0:
            the candidate's compare_metric must be below (1 - m) x the baseline's. Default {}.
        compare_metric: the metric beat_baselines compares. Default "mae".
        plot_windows: eval windows drawn in forecast_vs_actual.png (one per series first).
            Default 3.
        change_thresholds: metric -> ChangeThreshold against the last blessed forecaster of
            the same pipeline and model_name (every forecast metric is lower-is-better).
            Skipped, and recorded as skipped, when there is none yet. A last blessed
            forecaster trained on a shorter lookback is scored on the last steps of each
            window it knows; one that cannot forecast these windows at all (other targets or
            covariates, a longer lookback, fewer steps) fails them, with the reason.
            Default {}.
        allow_incomparable_baseline: skip (recorded, with the reason) instead of fail the
            change thresholds when the last blessed forecaster cannot forecast these windows,
            e.g. once after a lookback was raised. Default False.
        model_name: which earlier blessings count as baselines; default "" = the node id that
            produced the Model (e.g. "train").
        eval_split: split of the windows to score, and so the split every figure is on.
            Default "test": ingest_series splits in time order (train, eval, test), train
            early-stops on eval, so test is the only split the trainer never saw. An eval_split
            the trainer used is refused before the run (split_policy.py) unless
            allow_trainer_split is set.
        allow_trainer_split: accept an eval_split the trainer used. Default False.
        batch_size: windows per serving-signature call. Default 1024.

    At least one threshold or beat_baselines entry is required: nothing blesses by default.
    """

    season: int = 1
    moving_average: int = 3
    mase_season: int | None = None
    thresholds: dict[str, Bound] = field(default_factory=dict)
    beat_baselines: dict[str, float] = field(default_factory=dict)
    compare_metric: Literal["mae", "rmse", "smape", "mase"] = "mae"
    plot_windows: int = 3
    change_thresholds: dict[str, ChangeThreshold] = field(default_factory=dict)
    allow_incomparable_baseline: bool = False
    model_name: str = ""
    eval_split: str = "test"
    allow_trainer_split: bool = False
    batch_size: int = 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", coerce_rules(self.thresholds, Bound, "thresholds"))
        changes = coerce_rules(self.change_thresholds, ChangeThreshold, "change_thresholds")
        unknown = sorted(set(changes) - set(FORECAST_METRICS))
        if unknown:
            raise ConfigError(
                f"change_thresholds: unknown metric(s) {unknown}; expected names from "
                f"{list(FORECAST_METRICS)}"
            )
        if any(c.direction == "higher" for c in changes.values()):
            raise ConfigError(
                "change_thresholds: forecast errors are lower-is-better, got direction 'higher'; "
                "leave direction out"
            )
        lower = {k: dataclasses.replace(c, direction="lower") for k, c in changes.items()}
        object.__setattr__(self, "change_thresholds", lower)
        if not isinstance(self.allow_incomparable_baseline, bool):
            raise ConfigError(
                "allow_incomparable_baseline: expected true or false, got "
                f"{self.allow_incomparable_baseline!r}"
            )
        if not self.eval_split:
            raise ConfigError("eval_split: expected a split name such as 'test', got ''")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: expected an integer >= 1, got {self.batch_size}")
        for name in ("season", "moving_average", "mase_season", "plot_windows"):
            value = getattr(self, name)
            if name == "mase_season" and value is None:  # detected at run time
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
        unknown = sorted(set(self.thresholds) - set(FORECAST_METRICS))
        if unknown:
            raise ConfigError(
                f"thresholds: unknown metric(s) {unknown}; expected names from "
                f"{list(FORECAST_METRICS)}"
            )
        unknown = sorted(set(self.beat_baselines) - set(BASELINES))
        if unknown:
            raise ConfigError(
                f"beat_baselines: unknown baseline(s) {unknown}; expected names from "
                f"{list(BASELINES)}"
            )
        for name, margin in self.beat_baselines.items():
            if (
                not isinstance(margin, int | float)
                or not math.isfinite(margin)
                or not 0 <= margin < 1
            ):
                raise ConfigError(
                    f"beat_baselines.{name}: expected a margin in [0, 1) (0.1 = at "
                    f"least 10% better), got {margin!r}"
                )
        if self.compare_metric not in ("mae", "rmse", "smape", "mase"):
            raise ConfigError(
                f"compare_metric: expected one of mae, rmse, smape, mase, got "
                f"{self.compare_metric!r}"
            )
        if not self.thresholds and not self.beat_baselines:
            raise ConfigError(
                "thresholds: expected at least one threshold or beat_baselines entry, got none; "
                "a model is never blessed by default. Add e.g. `thresholds: {mase: {upper: "
                "0.8}}` or `beat_baselines: {seasonal_naive: 0.1}`"
            )
