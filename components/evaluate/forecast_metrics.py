"""Forecast accuracy metrics and naive baselines on eval windows, as pure numpy.

Shapes (one target; a forecaster with several targets is scored per target):
    history   float [n, L]   the target's input window of each eval example, original units
    actual    float [n, H]   what happened next
    forecast  float [n, H]   the candidate's (or a naive) forecast, original units
    observed  bool [n, H]    optional: True where `actual` was a row of the source, False
                             where ingest filled a gap (schemas/series.py future_observed).
                             Only observed targets are scored; `filled_excluded` counts the
                             others (an interpolated value is not what happened)

Metrics (`forecast_metrics`), overall and per step ahead (`metrics_by_step`):
    mae    mean |f - a|
    rmse   sqrt(mean (f - a)^2)
    mape   100 * mean |f - a| / |a| over the points where |a| > zero_tolerance (actual values at
           or near 0 would divide by ~0 and dominate; they are left out and counted in
           mape_excluded); None when every actual is ~0
    smape  100 * mean 2 |f - a| / (|a| + |f|), a point where both are 0 counts as 0 error
    mase   mae / (in-sample naive MAE of the histories): the denominator is
           mean over all windows and steps t >= m of |h[t] - h[t - m]| (m = mase_season,
           default 1, the persistence forecast's one-step error). < 1 means the candidate beats
           the naive forecast within the history on average; None when that error is 0
           (constant histories)

A forecast holding NaN or +-inf (a diverged network) has no error that can be measured: every
metric above is None (undefined, never 0) and `nonfinite` counts the values that are not
finite; evaluate refuses to bless such a candidate (forecast_evaluation.blessing_checks).

Baselines (`naive_forecasts`), computed on the same windows: persistence (the last value),
seasonal naive with a configured season (forecast.seasonal_naive_forecast), moving average
(mean of the last k values, repeated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seqline.components.evaluate.forecast import persistence_forecast, seasonal_naive_forecast

METRICS: tuple[str, ...] = ("mae", "rmse", "mape", "smape", "mase")
# Metrics where smaller is better (all of them); thresholds use it to phrase reasons.
LOWER_IS_BETTER = frozenset(METRICS)
ZERO_TOLERANCE = 1e-8


def _check(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray) -> None:
    if actual.ndim != 2 or actual.shape != forecast.shape:
        raise ValueError(
            f"expected actual and forecast of the same shape [n, horizon], got {actual.shape} "
            f"and {forecast.shape}"
        )
    if history.ndim != 2 or history.shape[0] != actual.shape[0]:
        raise ValueError(
            f"expected history [n, lookback] with n = {actual.shape[0]}, got {history.shape}"
        )


def naive_scale(history: np.ndarray, season: int = 1) -> float | None:
    """Mean |h[t] - h[t - season]| over every window and step t >= season; None if 0 or
    there are no such steps (lookback <= season)."""
    history = np.asarray(history, dtype=np.float64)
    if history.shape[1] <= season:
        return None
    scale = float(np.mean(np.abs(history[:, season:] - history[:, :-season])))
    return scale if scale > 0 else None


def forecast_metrics(
    actual: np.ndarray,
    forecast: np.ndarray,
    history: np.ndarray,
    mase_season: int = 1,
    zero_tolerance: float = ZERO_TOLERANCE,
    observed: np.ndarray | None = None,
) -> dict[str, Any]:
    """{"mae", "rmse", "mape", "smape", "mase", "mape_excluded", "count", "nonfinite",
    "filled_excluded"} over the observed points (`count` of them). With any non-finite
    forecast value (observed or not) every metric is None (undefined) and `nonfinite` counts
    those values; with no observed point every metric is None too.

    Args:
        actual, forecast: float [n, H] (or [n] for one step).
        history: float [n, L], the windows the forecasts were made from (for MASE).
        mase_season: m of MASE's in-sample naive error (default 1).
        zero_tolerance: |actual| at or below this is left out of MAPE.
        observed: bool [n, H] (or [n]); False marks a gap-filled target, left out and
            counted in `filled_excluded`. None: every target observed.
    """
    actual = np.asarray(actual, dtype=np.float64).reshape(len(actual), -1)
    forecast = np.asarray(forecast, dtype=np.float64).reshape(len(forecast), -1)
    history = np.asarray(history, dtype=np.float64)
    _check(actual, forecast, history)
    if actual.size == 0:
        raise ValueError("expected at least one eval window, got none")
    nonfinite = int(np.count_nonzero(~np.isfinite(forecast)))
    mask = (
        np.ones(actual.shape, dtype=bool)
        if observed is None
        else np.asarray(observed, dtype=bool).reshape(actual.shape)
    )
    actual, forecast = actual[mask], forecast[mask]  # 1-D: the observed points
    usable = np.abs(actual) > zero_tolerance
    counts = {
        "mape_excluded": int((~usable).sum()),
        "count": int(actual.size),
        "nonfinite": nonfinite,
        "filled_excluded": int((~mask).sum()),
    }
    if nonfinite or actual.size == 0:
        # NaN compares False with everything: sMAPE's `denominator > 0` would count a NaN
        # forecast as a perfect 0. No metric of such a forecast (or of no point) is defined.
        return {**dict.fromkeys(METRICS), **counts}
    error = forecast - actual
    mae = float(np.mean(np.abs(error)))
    mape = (
        float(100.0 * np.mean(np.abs(error[usable]) / np.abs(actual[usable])))
        if usable.any()
        else None
    )
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(error), denominator, out=np.zeros_like(error), where=denominator > 0
    )
    scale = naive_scale(history, mase_season)
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": mape,
        "smape": float(100.0 * np.mean(ratio)),
        "mase": mae / scale if scale is not None else None,
        **counts,
    }


def metrics_by_step(
    actual: np.ndarray,
    forecast: np.ndarray,
    history: np.ndarray,
    mase_season: int = 1,
    observed: np.ndarray | None = None,
) -> dict[str, list[float | None]]:
    """{metric: [value at step 1, ..., step H]} (MASE with the same in-sample scale), plus
    "count": observed points per step."""
    actual = np.asarray(actual, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    per_step = [
        forecast_metrics(
            actual[:, [h]],
            forecast[:, [h]],
            history,
            mase_season,
            observed=None if observed is None else np.asarray(observed)[:, [h]],
        )
        for h in range(actual.shape[1])
    ]
    return {name: [m[name] for m in per_step] for name in (*METRICS, "count")}


def moving_average_forecast(history: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """float [n, horizon]: the mean of the last `window` history values, repeated."""
    history = np.asarray(history, dtype=np.float64)
    if history.ndim != 2 or not 1 <= window <= history.shape[1] or horizon < 1:
        raise ValueError(
            f"expected history [n, lookback >= window] and window, horizon >= 1; got history "
            f"{history.shape}, window {window}, horizon {horizon}"
        )
    return np.repeat(history[:, -window:].mean(axis=1, keepdims=True), horizon, axis=1)


def naive_forecasts(
    history: np.ndarray, horizon: int, season: int, moving_average: int
) -> dict[str, np.ndarray]:
    """{"persistence", "seasonal_naive", "moving_average"}: float [n, horizon] each."""
    return {
        "persistence": persistence_forecast(history, horizon),
        "seasonal_naive": seasonal_naive_forecast(history, horizon, season),
        "moving_average": moving_average_forecast(history, horizon, moving_average),
    }


def metrics_per_series(
    series_ids: Sequence[str] | np.ndarray,
    actual: np.ndarray,
    forecast: np.ndarray,
    history: np.ndarray,
    mase_season: int = 1,
    observed: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """{series id: forecast_metrics of its windows (in their order)}, for data with several
    series, ids in sorted order. The windows are grouped once (a stable sort by id): comparing
    every id with all n windows' ids took 12 s of a 28 s evaluate for 1,000 series and 274,000
    windows."""
    ids = np.asarray(series_ids)
    if ids.size == 0:
        return {}
    names, inverse = np.unique(ids, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    bounds = np.searchsorted(inverse.ravel()[order], np.arange(len(names) + 1))
    observed = None if observed is None else np.asarray(observed)
    result: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        rows = order[bounds[k] : bounds[k + 1]]
        result[str(name)] = forecast_metrics(
            actual[rows],
            forecast[rows],
            history[rows],
            mase_season,
            observed=None if observed is None else observed[rows],
        )
    return result


def relative_improvement(candidate: Mapping[str, Any], baseline: Mapping[str, Any], metric: str):
    """1 - candidate / baseline for a lower-is-better metric (0.2 = 20% better), or None."""
    c, b = candidate.get(metric), baseline.get(metric)
    if c is None or b is None or b <= 0:
        return None
    return 1.0 - c / b
