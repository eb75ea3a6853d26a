"""evaluate_series: score the candidate forecaster, the last blessed forecaster of the same name
and naive baselines (persistence, seasonal naive, moving average) on the same eval windows;
apply value, beat-the-baseline and change thresholds; write the Blessing.

Inputs:
    examples (SeriesWindows): the raw eval windows (what a model server receives).
    model (Model, task "forecast"): the candidate.
    baseline_model (Model, resolved): the last forecaster evaluate blessed under the same model
        name in this pipeline (LatestBlessedModel), or None on a first run; part of the
        fingerprint, so a new blessed model re-runs this node.
Output:
    blessing (Blessing): metrics.json, checks.json, forecast plots; properties blessed,
        reasons, metrics (first target's mae, rmse, mape, smape, mase; None when undefined),
        nonfinite_forecasts (NaN/inf forecast values over every target: > 0 is never
        blessed), filled_targets_excluded (target steps ingest filled, left out of every
        metric), eval_split (the windows' split every figure is on), baselines, model_uri,
        model_fingerprint, model_name, baseline_model_uri, baseline_model_version.

Scoring and rules are forecast_evaluation.py and forecast_metrics.py; the config is
forecast_config.py.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from seqline.components.evaluate.forecast_config import EvaluateSeriesConfig
from seqline.components.evaluate.text_component import model_name_of
from seqline.pipeline.artifacts import Blessing, Model, SeriesWindows
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import DataError
from seqline.pipeline.resolvers import LatestBlessedModel
from seqline.storage import filesystem

__all__ = ["COMPONENT", "EvaluateSeriesConfig", "run"]

METRICS = ("mae", "rmse", "mape", "smape", "mase")


def _write_bytes(path: str, payload: bytes) -> None:
    if filesystem.is_remote(path):
        import tensorflow as tf  # noqa: PLC0415

        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)


def run(
    ctx: ExecutionContext,
    config: EvaluateSeriesConfig,
    examples: SeriesWindows,
    model: Model,
    baseline_model: Model | None,
    blessing: Out[Blessing],
) -> dict[str, Any]:
    """Scores the forecaster, writes the Blessing; returns {"blessed", "mae", "mase", "smape",
    "seasonal_naive_mae", "baseline_model_mae", "windows", "nonfinite_forecasts",
    "filled_excluded"}."""
    from seqline.components.evaluate.evaluation import (  # noqa: PLC0415
        BaselineModelInfo,
        baseline_model_info,
        rounded,
    )
    from seqline.components.evaluate.forecast_evaluation import (  # noqa: PLC0415
        BASELINE_MODEL,
        CANDIDATE,
        baseline_difference,
        blessing_checks,
        candidate_forecasts,
        check_config,
        plots,
        read_windows,
        score_target,
        with_lookback,
    )
    from seqline.components.evaluate.split_policy import judge_lineages  # noqa: PLC0415
    from seqline.components.evaluate.thresholds import json_number  # noqa: PLC0415
    from seqline.pipeline.artifacts.base import str_list  # noqa: PLC0415

    examples.check_split(
        config.eval_split, f"node '{ctx.node_id}'", f"components.{ctx.node_id}.eval_split"
    )
    facts = model.forecast_output()
    windows_spec = examples.windows
    for key, value in (("lookback", facts.lookback), ("horizon", facts.horizon)):
        if getattr(windows_spec, key) != value:
            raise DataError(
                f"the model was trained on windows with {key} {value}, the Examples have "
                f"{getattr(windows_spec, key)}; evaluate on the examples the model was trained "
                "from"
            )
    check_config(config, facts)
    if config.mase_season is None:  # the detected seasonal period of the windows' cadence
        from seqline.components.evaluate.seasonality import (  # noqa: PLC0415
            detected_mase_season,
        )

        season = detected_mase_season(windows_spec.frequency, facts.lookback)
        config = dataclasses.replace(config, mase_season=season)
    model_name = model_name_of(config.model_name, model)
    # A blessing is never decided on windows a model was fitted on (split_policy.py): after
    # the split fractions or cuts change, the last blessed forecaster trained on what is now
    # test, and its inflated figures would fail honest candidates' change thresholds.
    accepted, set_aside = judge_lineages(
        model, baseline_model, examples.split_definition, config, ctx.progress
    )
    info = baseline_model_info(baseline_model, model_name, ctx.resolved_notes.get("baseline_model"))
    if set_aside is not None:
        baseline_model = None
        info = BaselineModelInfo(None, None, set_aside)
    windows = read_windows(examples.split_files(config.eval_split), facts, config.eval_split)
    ctx.progress(
        f"forecasting {len(windows)} '{config.eval_split}' windows; baselines on the same "
        "windows; baseline "
        f"model: {info.uri or info.note}"
    )
    forecast, steps = candidate_forecasts(model.saved_model_dir, windows, facts, config.batch_size)
    previous = None
    note = info.note
    incomparable = ""  # why the last blessed model could not be scored on these windows
    compared: dict[str, Any] = {}
    if baseline_model is not None:
        other = baseline_model.forecast_output()
        incomparable = baseline_difference(
            other,
            facts,
            str_list(baseline_model.properties.get("future_covariates")),
            windows_spec.future_covariates,
        )
        if not incomparable:
            shown = windows
            if other.lookback < facts.lookback:
                # The same forecast origins; the older model reads the last steps it knows.
                shown = with_lookback(windows, other.lookback)
                note = (
                    f"{info.note}; trained on lookback {other.lookback}: scored on the last "
                    f"{other.lookback} of each window's {facts.lookback} history steps"
                )
            previous, other_steps = candidate_forecasts(
                baseline_model.saved_model_dir, shown, other, config.batch_size
            )
            if other_steps < steps:
                previous = None
                incomparable = (
                    f"it forecasts {other_steps} steps ahead, fewer than the {steps} the "
                    "candidate is scored on"
                )
            else:
                previous = previous[:, :steps]
                compared = {"lookback": other.lookback, "steps": steps}
        if incomparable:
            note = f"baseline model {baseline_model.uri} cannot be compared: {incomparable}"
            ctx.progress(note)
    # Targets ingest filled (a gap in the source) are not what happened: every model's
    # figures, the naive baselines' included, are on the observed targets only.
    observed = None if windows.observed is None else windows.observed[:, :steps]
    filled = 0 if observed is None else int((~observed).sum())
    scored = len(windows) * steps - filled
    if filled:
        ctx.progress(
            f"left out {filled} of {len(windows) * steps} target steps that ingest filled "
            f"(gaps in the source); scoring the {scored} observed"
        )
    scores: dict[str, Any] = {}
    for t, target in enumerate(facts.targets):
        scores[target] = score_target(
            config,
            windows.history[target],
            windows.future[target][:, :steps],
            forecast[:, :, t],
            windows.series_ids,
            None if previous is None else previous[:, :, t],
            observed,
        )
    checks = blessing_checks(config, scores, note, incomparable)
    blessed = all(c["passed"] for c in checks)
    reasons = [c["reason"] for c in checks] + ([accepted] if accepted is not None else [])

    first = facts.targets[0]
    actual = windows.future[first][:, :steps]
    for name, payload in plots(
        config, first, windows, forecast[:, :, 0], actual, scores[first]
    ).items():
        _write_bytes(blessing.path(name), payload)
    metrics_doc = {
        "task": "forecast",
        "eval_split": config.eval_split,
        "windows": len(windows),
        "steps": steps,
        "season": config.season,
        "moving_average": config.moving_average,
        "mase_season": config.mase_season,
        # Per target, of windows x steps: the observed targets scored, and those left out
        # because ingest filled them (future_observed = 0).
        "scored_targets": scored,
        "filled_targets_excluded": filled,
        "targets": scores,
    }
    checks_doc = {
        "checks": checks,
        "model": {"uri": model.uri, "fingerprint": model.fingerprint},
        "baseline_model": {
            "uri": info.uri,
            "fingerprint": info.fingerprint,
            "version": info.version,
            "note": note,
            # {"lookback": the baseline's, "steps": scored} when it was scored; {} otherwise
            "compared": compared,
        },
    }
    filesystem.write_text(blessing.path(Blessing.METRICS_FILE), json.dumps(metrics_doc, indent=2))
    filesystem.write_text(blessing.path(Blessing.CHECKS_FILE), json.dumps(checks_doc, indent=2))

    overall = scores[first][CANDIDATE]["overall"]
    nonfinite = sum(int(scores[t][CANDIDATE]["overall"].get("nonfinite") or 0) for t in scores)
    blessing.record(blessed, reasons, model)
    blessing.properties.update(
        {
            # Undefined metrics are None, never NaN: the resolver skips blessings whose
            # recorded metrics are not finite (a model that forecast NaN must not become the
            # baseline every later model is compared with).
            "metrics": {k: json_number(overall[k]) for k in METRICS},
            "eval_split": config.eval_split,  # the split every figure is on (`seqline show`)
            "nonfinite_forecasts": nonfinite,
            "filled_targets_excluded": filled,
            "baselines": {
                name: {"mae": scores[first][name]["overall"]["mae"]}
                for name in ("persistence", "seasonal_naive", "moving_average", BASELINE_MODEL)
                if name in scores[first]
            },
            "model_uri": model.uri,
            "model_name": model_name,
            "baseline_model_uri": info.uri,
            "baseline_model_version": info.version,
        }
    )
    base = scores[first].get(BASELINE_MODEL)
    return {
        "blessed": blessed,
        "mae": rounded(overall["mae"]),
        "mase": rounded(overall["mase"]),
        "smape": rounded(overall["smape"]),
        "seasonal_naive_mae": rounded(scores[first]["seasonal_naive"]["overall"]["mae"]),
        "baseline_model_mae": rounded(base["overall"]["mae"]) if base else None,
        "windows": len(windows),
        "nonfinite_forecasts": nonfinite,
        "filled_excluded": filled,
    }


COMPONENT = component(
    run, name="evaluate_series", resolved={"baseline_model": LatestBlessedModel()}
)
