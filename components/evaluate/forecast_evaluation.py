"""Evaluating a forecaster (Model task "forecast") on the eval windows, against naive baselines.

One pass over the eval split's raw windows (seqline.schemas.series): the candidate SavedModel
forecasts each window through its serving_default signature (serialized raw tf.Example, exactly
what a model server receives), and persistence, seasonal naive and moving average forecast the
same windows from their history. A model whose forecast covers fewer steps than the windows'
horizon ("last" / "sequence" output) is rolled forward with seqline.serving.client.forecasting's
recursion when it has no covariates (their future is not in the window), else scored on the
steps it forecasts.

The last blessed forecaster (evaluate_series' resolved `baseline_model`) forecasts the same
windows and enters the metrics as "baseline_model"; change thresholds compare against it.

Written into the Blessing directory (the verdict itself is the Blessing's `blessed` property):
    checks.json               {"checks", "model", "baseline_model"}
    metrics.json              per target: overall, by_step, per_series, baselines (same shape)
    forecast_vs_actual.png    history, actual and forecasts of a few eval windows (and
                              forecast_vs_actual_{i}.png for the others)
    error_by_horizon.png      MAE per step ahead: candidate and baselines
Metrics and baselines are forecast_metrics.py; plots are plots.py's regression plots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqline.components.evaluate.forecast_config import EvaluateSeriesConfig
from seqline.components.evaluate.forecast_metrics import (
    forecast_metrics,
    metrics_by_step,
    metrics_per_series,
    naive_forecasts,
    relative_improvement,
)
from seqline.components.evaluate.thresholds import ChangeThreshold, check_changes
from seqline.pipeline.artifacts import ForecastOutput
from seqline.pipeline.errors import ConfigError, DataError

CANDIDATE = "candidate"
BASELINE_MODEL = "baseline_model"


@dataclass
class EvalWindows:
    """The eval split's windows, original units.

    Attributes:
        serialized: the raw tf.Examples, as read.
        series_ids: str [n].
        history: column -> float [n, L].
        future: target -> float [n, H].
        observed: bool [n, H], False where ingest filled the target step (a gap in the
            source): such targets are left out of every metric. None = all observed.
    """

    serialized: list[bytes]
    series_ids: np.ndarray
    history: dict[str, np.ndarray]
    future: dict[str, np.ndarray]
    observed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.serialized)


def read_windows(files: Sequence[str], facts: ForecastOutput, split: str = "") -> EvalWindows:
    """Reads and parses every window of the given gzip TFRecord files (of split `split`, the
    config's eval_split: errors name it; "" = unnamed)."""
    import tensorflow as tf

    from seqline.schemas.series import (
        FUTURE_OBSERVED_KEY,
        SERIES_ID_KEY,
        future_key,
        future_observed_spec,
        history_key,
        raw_series_feature_spec,
    )

    spec = raw_series_feature_spec(facts.targets, facts.covariates, facts.lookback, facts.horizon)
    spec.update(future_observed_spec(facts.horizon))  # windows without it: all observed
    serialized: list[bytes] = []
    ids: list[np.ndarray] = []
    observed: list[np.ndarray] = []
    history: dict[str, list[np.ndarray]] = {c: [] for c in (*facts.targets, *facts.covariates)}
    future: dict[str, list[np.ndarray]] = {t: [] for t in facts.targets}
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(1024)
    for batch in dataset:
        parsed = tf.io.parse_example(batch, spec)
        serialized.extend(batch.numpy().tolist())
        ids.append(parsed[SERIES_ID_KEY].numpy())
        for column in history:
            history[column].append(parsed[history_key(column)].numpy())
        for target in future:
            future[target].append(parsed[future_key(target)].numpy())
        observed.append(parsed[FUTURE_OBSERVED_KEY].numpy() != 0)
    if not serialized:
        where = f"the {split!r} split (evaluate.eval_split)" if split else "the scored split"
        raise DataError(
            f"expected windows of {where} in {list(files)}, found none; re-run "
            "ingest_series (it gives every split windows), or set evaluate.eval_split to a "
            "split that has windows"
        )
    return EvalWindows(
        serialized,
        np.array([s.decode("utf-8", "replace") for s in np.concatenate(ids)]),
        {c: np.concatenate(v).astype(np.float64) for c, v in history.items()},
        {t: np.concatenate(v).astype(np.float64) for t, v in future.items()},
        np.concatenate(observed),
    )


def candidate_forecasts(
    saved_model_dir: str, windows: EvalWindows, facts: ForecastOutput, batch_size: int
) -> tuple[np.ndarray, int]:
    """(forecast float [n, steps, T], steps scored). Uses serving_default on the serialized
    windows; a model forecasting fewer steps than H without covariates or calendar features is
    rolled forward by recursion to H."""
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    targets = len(facts.targets)
    # Recursion needs each later window's timestamp, which a model with calendar features
    # takes (window_end): such a model is scored on its own S steps, like one with covariates.
    from seqline.serving.client.forecasting import SavedModelForecaster, recursive_forecast

    forecaster = None
    if facts.steps < facts.horizon and not facts.covariates:
        candidate = SavedModelForecaster(saved_model_dir)
        forecaster = None if candidate.takes_window_end else candidate
    if forecaster is not None:
        history = np.stack([windows.history[c] for c in facts.targets], axis=2)
        ids = windows.series_ids if forecaster.takes_series_id else None
        parts = []
        for start in range(0, len(windows), batch_size):
            part = slice(start, start + batch_size)
            out = recursive_forecast(
                forecaster,
                history[part],
                facts.horizon,
                series_id=None if ids is None else ids[part],
            )
            parts.append(np.asarray(out).reshape(-1, facts.horizon, targets))
        return np.concatenate(parts).astype(np.float64), facts.horizon
    function = loaded.signatures["serving_default"]
    parts = []
    for start in range(0, len(windows), batch_size):
        batch = tf.constant(windows.serialized[start : start + batch_size])
        out = function(examples=batch)["forecast"].numpy()
        parts.append(out.reshape(len(out), facts.steps, targets))
    return np.concatenate(parts).astype(np.float64), facts.steps


def baseline_difference(
    baseline: ForecastOutput,
    candidate: ForecastOutput,
    baseline_future: Sequence[str],
    windows_future: Sequence[str],
) -> str:
    """Why the last blessed forecaster cannot forecast the candidate's eval windows ("" when
    it can): other targets or covariates, a longer lookback than the windows hold, future
    covariates the windows lack or hold over another horizon. A shorter lookback is not a
    difference: the baseline then reads the last baseline.lookback steps of each window
    (with_lookback).

    Args:
        baseline, candidate: the two models' output contracts.
        baseline_future: the future covariates the baseline model reads over the horizon.
        windows_future: the future covariates the eval windows hold (`future/{column}` [H]).
    """
    if baseline.targets != candidate.targets:
        return (
            f"it forecasts targets {list(baseline.targets)}, the candidate "
            f"{list(candidate.targets)}"
        )
    if baseline.covariates != candidate.covariates:
        return (
            f"it reads covariates {list(baseline.covariates)}, the candidate "
            f"{list(candidate.covariates)}"
        )
    if baseline.lookback > candidate.lookback:
        return (
            f"it reads {baseline.lookback} history steps, more than the {candidate.lookback} "
            "each eval window holds (the candidate's lookback)"
        )
    missing = [c for c in baseline_future if c not in windows_future]
    if missing:
        return f"it reads future covariates {missing} over the horizon, which the windows lack"
    if baseline_future and baseline.horizon != candidate.horizon:
        return (
            f"it reads its future covariates {list(baseline_future)} over {baseline.horizon} "
            f"steps ahead, the windows hold {candidate.horizon}"
        )
    return ""


def with_lookback(windows: EvalWindows, lookback: int) -> EvalWindows:
    """The same windows cut to their last `lookback` history steps (every `history/` feature
    of the serialized examples, and the parsed histories), for a model trained on a shorter
    lookback. window_end, the series id and the future features stay as they are: the
    forecast origin is the same."""
    import tensorflow as tf

    from seqline.schemas.series import HISTORY_PREFIX

    serialized = []
    for raw in windows.serialized:
        example = tf.train.Example.FromString(raw)
        for key, feature in example.features.feature.items():
            if key.startswith(HISTORY_PREFIX):
                values = feature.float_list.value
                kept = list(values)[-lookback:]
                del values[:]
                values.extend(kept)
        serialized.append(example.SerializeToString(deterministic=True))
    return dataclasses.replace(
        windows,
        serialized=serialized,
        history={c: h[:, -lookback:] for c, h in windows.history.items()},
    )


def check_config(fc: EvaluateSeriesConfig, facts: ForecastOutput) -> None:
    """ConfigError when a naive baseline needs more history than a window has."""
    for name in ("season", "moving_average"):
        value = getattr(fc, name)
        if value > facts.lookback:
            raise ConfigError(
                f"evaluate.{name}: expected at most the windows' lookback "
                f"({facts.lookback}) so the baseline can be computed from each window, got "
                f"{value}; lower it, or raise ingest_series.lookback"
            )


def score_target(
    fc: EvaluateSeriesConfig,
    history: np.ndarray,
    actual: np.ndarray,
    forecast: np.ndarray,
    series_ids: np.ndarray,
    baseline_model: np.ndarray | None = None,
    observed: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of one target: candidate, naive baselines and (given its forecast) the baseline
    model, overall, by step and per series, each on the observed targets only (`observed`
    bool [n, steps]: False = gap-filled, left out of every model's figures alike)."""
    steps = actual.shape[1]
    # None only when score_target is called without the run's resolution: persistence.
    mase_season = fc.mase_season or 1
    forecasts = {
        CANDIDATE: forecast,
        **naive_forecasts(history, steps, fc.season, fc.moving_average),
    }
    if baseline_model is not None:
        forecasts[BASELINE_MODEL] = baseline_model
    several = len(set(series_ids.tolist())) > 1
    out: dict[str, Any] = {}
    for name, values in forecasts.items():
        entry = {
            "overall": forecast_metrics(actual, values, history, mase_season, observed=observed),
            "by_step": metrics_by_step(actual, values, history, mase_season, observed),
        }
        if several:
            entry["per_series"] = metrics_per_series(
                series_ids, actual, values, history, mase_season, observed
            )
        out[name] = entry
    return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


# Why a metric can be None, for the reason a failed bound gives (forecast_metrics).
UNDEFINED_BECAUSE = {
    "mase": "undefined: MASE divides by the naive forecast's in-sample error at lag "
    "mase_season, which is 0 here (the history does not change over that lag, e.g. a "
    "constant series) or the lookback is not longer than mase_season; bound mae or rmse "
    "instead",
    "mape": "undefined: every actual value is 0 (within the zero tolerance); bound smape or "
    "mae instead",
}


def blessing_checks(
    fc: EvaluateSeriesConfig,
    scores: Mapping[str, Any],
    no_baseline_note: str = "",
    incomparable: str = "",
) -> list[dict[str, Any]]:
    """One check per (target, rule): {"target", "kind", "metric", "passed", "reason", ...}.
    Change thresholds compare with scores' "baseline_model" entry. Without one they are
    recorded as skipped with `no_baseline_note` (first run) -- unless `incomparable` says why
    the last blessed model could not be scored on these windows: then each fails with that
    reason, or is skipped with it under fc.allow_incomparable_baseline."""
    checks = []
    for target, by_model in scores.items():
        candidate = by_model[CANDIDATE]["overall"]
        nonfinite = int(candidate.get("nonfinite") or 0)
        if nonfinite:
            # Never blessed, whatever the rules say: its metrics are undefined.
            checks.append(
                {
                    "target": target,
                    "kind": "finite",
                    "metric": "forecast",
                    "value": nonfinite,
                    "passed": False,
                    "reason": f"{target}: forecasts not finite: {nonfinite} of "
                    f"{candidate['count'] + candidate.get('filled_excluded', 0)} values are "
                    "NaN/inf (every metric is undefined; a "
                    "diverged or broken model: check train's loss curve and learning rate)",
                }
            )
        for metric, bound in fc.thresholds.items():
            value = candidate.get(metric)
            passed = value is not None and (
                (bound.lower is None or value >= bound.lower)
                and (bound.upper is None or value <= bound.upper)
            )
            limits = " and ".join(
                f"{op} {limit:g}"
                for op, limit in ((">=", bound.lower), ("<=", bound.upper))
                if limit is not None
            )
            reason = f"{target}: {metric} {_fmt(value)} {'meets' if passed else 'fails'} {limits}"
            if value is None:
                if nonfinite:
                    why = "undefined: the forecasts are not finite"
                elif not candidate.get("count", 1):
                    why = (
                        "undefined: every target of these windows was filled by ingest, none "
                        "observed; fewer gaps in the source, or a longer eval split"
                    )
                else:
                    why = UNDEFINED_BECAUSE.get(metric, "undefined on these windows")
                reason += f" ({why})"
            checks.append(
                {
                    "target": target,
                    "kind": "bound",
                    "metric": metric,
                    "value": value,
                    "passed": passed,
                    "reason": reason,
                }
            )
        metric = fc.compare_metric
        for baseline, margin in fc.beat_baselines.items():
            base = by_model[baseline]["overall"]
            improvement = relative_improvement(candidate, base, metric)
            passed = improvement is not None and improvement > margin
            needed = f"more than {margin:.0%}" if margin else "any"
            shown = "n/a" if improvement is None else f"{improvement:+.1%}"
            checks.append(
                {
                    "target": target,
                    "kind": "beat_baseline",
                    "metric": metric,
                    "baseline": baseline,
                    "value": candidate.get(metric),
                    "baseline_value": base.get(metric),
                    "improvement": improvement,
                    "passed": passed,
                    "reason": f"{target}: {metric} {_fmt(candidate.get(metric))} vs {baseline} "
                    f"{_fmt(base.get(metric))}: {shown} lower, {needed} required"
                    f"{'' if passed else ' -- not beaten'}",
                }
            )
        if incomparable and BASELINE_MODEL not in by_model:
            checks.extend(
                incomparable_checks(
                    target, fc.change_thresholds, incomparable, fc.allow_incomparable_baseline
                )
            )
        else:
            checks.extend(change_checks(target, fc.change_thresholds, by_model, no_baseline_note))
    return checks


def incomparable_checks(
    target: str, thresholds: Mapping[str, ChangeThreshold], why: str, allowed: bool
) -> list[dict[str, Any]]:
    """The change thresholds of one target when the last blessed model cannot be scored on
    the eval windows: failed (a comparison that cannot be made is not passed), or skipped
    when the config opts out with allow_incomparable_baseline."""
    out = []
    for metric in thresholds:
        if allowed:
            verdict = f"SKIPPED ({why}; allowed by evaluate.allow_incomparable_baseline)"
        else:
            verdict = (
                f"FAIL ({why}; expected a baseline model scored on the same windows: set "
                "evaluate.allow_incomparable_baseline: true to bless without this comparison, "
                "e.g. once after changing the lookback, targets or covariates)"
            )
        out.append(
            {
                "target": target,
                "kind": "change",
                "metric": metric,
                "passed": allowed,
                "skipped": allowed,
                "incomparable": True,
                "note": why,
                "reason": f"{target}: {metric} (overall) change vs baseline model: {verdict}",
            }
        )
    return out


def change_checks(
    target: str,
    thresholds: Mapping[str, ChangeThreshold],
    by_model: Mapping[str, Any],
    no_baseline_note: str,
) -> list[dict[str, Any]]:
    """The change thresholds of one target against the baseline model (skipped without one)."""
    candidate = by_model[CANDIDATE]["overall"]
    baseline = by_model.get(BASELINE_MODEL)
    out = []
    for check in check_changes(
        {m: _as_float(candidate.get(m)) for m in thresholds},
        None
        if baseline is None
        else {m: _as_float(baseline["overall"].get(m)) for m in thresholds},
        thresholds,
        skip_note=no_baseline_note or "no blessed baseline model",
    ):
        out.append({"target": target, **check.to_json(), "reason": f"{target}: {check.reason}"})
    return out


def _as_float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def plots(
    fc: EvaluateSeriesConfig,
    target: str,
    windows: EvalWindows,
    forecast: np.ndarray,
    actual: np.ndarray,
    scores: Mapping[str, Any],
) -> dict[str, bytes]:
    from seqline.components.evaluate.plots import error_by_horizon_png, forecast_vs_actual_png

    history = windows.history[target]
    steps = actual.shape[1]
    naive = naive_forecasts(history, steps, fc.season, fc.moving_average)
    # One window per series first (the last of each: the most recent), then more of the first.
    order: list[int] = []
    for sid in dict.fromkeys(windows.series_ids.tolist()):
        order.append(int(np.flatnonzero(windows.series_ids == sid)[-1]))
    order += [i for i in np.linspace(0, len(actual) - 1, fc.plot_windows, dtype=int).tolist()]
    chosen = list(dict.fromkeys(order))[: fc.plot_windows]
    files = {}
    for k, i in enumerate(chosen):
        sid = windows.series_ids[i]
        title = f"{target}: {fc.eval_split} window {i}" + (f" (series {sid})" if sid else "")
        filled = 0 if windows.observed is None else int((~windows.observed[i, :steps]).sum())
        if filled:
            title += f", {filled} filled step(s) not scored"
        files[f"forecast_vs_actual{'' if k == 0 else f'_{k}'}.png"] = forecast_vs_actual_png(
            actual[i],
            {CANDIDATE: forecast[i], "seasonal_naive": naive["seasonal_naive"][i]},
            title=title,
            history=history[i],
        )
    files["error_by_horizon.png"] = error_by_horizon_png(
        {name: np.array(entry["by_step"]["mae"], dtype=float) for name, entry in scores.items()},
        title=f"{target}: MAE by steps ahead ({fc.eval_split} split, {len(actual)} windows)",
    )
    return files
