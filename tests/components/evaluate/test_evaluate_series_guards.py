"""evaluate_series guards found by a probing session: forecasts that are not finite, a last
blessed forecaster trained on another lookback, gap-filled targets, and the split every
title and message names. Hand-built forecaster SavedModels make every forecast known exactly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.components.evaluate.forecast_config import EvaluateSeriesConfig
from seqline.components.evaluate.forecast_metrics import forecast_metrics
from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from seqline.pipeline.errors import DataError
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.resolvers import LatestBlessedModel, ResolverQuery
from tests.components.context import make_context

HORIZON = 3
LONG, SHORT = 24, 12  # the candidate's lookback, and an older model's
# Plotting is most of an evaluate run: one forecast window where no test reads the plots
# (test_e_titles_and_progress_name_the_eval_split keeps the default three).
PLOTS = 1


def save_forecaster(
    path: Path, lookback: int, body: Callable[[Any], Any], horizon: int = HORIZON
) -> None:
    """A SavedModel with the forecaster's serving_default contract: serialized raw windows in,
    `forecast` [b, horizon] = body(history [b, lookback]) out (target "y", no covariates)."""
    import tensorflow as tf

    from seqline.schemas.series import raw_series_feature_spec

    spec = raw_series_feature_spec(["y"], [], lookback, horizon, with_future=False)

    class Forecaster(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            return {"forecast": body(tf.io.parse_example(examples, spec)["history/y"])}

    module = Forecaster()
    signatures = {"serving_default": module.serve.get_concrete_function()}
    tf.saved_model.save(module, str(path / "saved_model"), signatures=signatures)


def model_artifact(
    path: Path, lookback: int, fingerprint: str, horizon: int = HORIZON, **properties: Any
) -> Artifact:
    model = Artifact(
        ArtifactType.MODEL,
        str(path),
        fingerprint,
        producer={"node_id": "train"},
        properties={
            "task": "forecast",
            "targets": ["y"],
            "covariates": [],
            "lookback": lookback,
            "horizon": horizon,
            "forecast_steps": horizon,
            **properties,
        },
    )
    write_descriptor(model, model.uri)
    return model


def last_value(history: Any) -> Any:
    import tensorflow as tf

    return tf.repeat(history[:, -1:], HORIZON, axis=1)


def mean_of_window(history: Any) -> Any:
    import tensorflow as tf

    return tf.repeat(tf.reduce_mean(history, axis=1, keepdims=True), HORIZON, axis=1)


def not_a_number(history: Any) -> Any:
    return last_value(history) * float("nan")


def last_value_plus_5(history: Any) -> Any:
    return last_value(history) + 5.0


@pytest.fixture(scope="module")
def series_examples(tmp_path_factory: pytest.TempPathFactory):
    """Windows of lookback LONG over one 400-point series (test split: 34 windows)."""
    from tests.components.transform.series_fixtures import make_series, write_series_examples

    root = tmp_path_factory.mktemp("series_guards")
    return write_series_examples(
        root / "examples", {"": make_series(400, seed=5)}, ("y",), (), LONG, HORIZON
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Artifact]:
    root = tmp_path_factory.mktemp("series_guard_models")
    built = {
        "mean24": (LONG, mean_of_window),
        "last12": (SHORT, last_value),
        "last24": (LONG, last_value),
        "nan24": (LONG, not_a_number),
        "last36": (36, last_value),
        "mean12": (SHORT, mean_of_window),
        "worse24": (LONG, last_value_plus_5),
        "worse12": (SHORT, last_value_plus_5),
    }
    out = {}
    for name, (lookback, body) in built.items():
        save_forecaster(root / name, lookback, body)
        out[name] = model_artifact(root / name, lookback, f"fp-{name}")
    # A one-step ("last" output) forecaster of horizon-1 windows: forecasts 1 step of 3.
    save_forecaster(root / "step12", SHORT, lambda history: history[:, -1:], horizon=1)
    out["step12"] = model_artifact(root / "step12", SHORT, "fp-step12", horizon=1)
    return out


def run_evaluate(
    tmp_path: Path,
    examples: Artifact,
    model: Artifact,
    config: EvaluateSeriesConfig,
    baseline_model: Artifact | None = None,
) -> tuple[dict[str, Any], Artifact, list[str]]:
    """Runs evaluate_series like the runner does; (summary, blessing, progress lines)."""
    from seqline.components.evaluate.series_component import COMPONENT

    base = tmp_path / f"run-{uuid.uuid4().hex[:6]}"
    (base / "blessing").mkdir(parents=True)
    blessing = Artifact(ArtifactType.BLESSING, str(base / "blessing"), "fp-blessing")
    lines: list[str] = []
    ctx = make_context(
        config=config,
        inputs={"examples": examples, "model": model},
        outputs={"blessing": blessing},
        node_id="evaluate",
        progress=lines.append,
        resolved={"baseline_model": baseline_model},
    )
    summary = dict(COMPONENT.executor(ctx))
    write_descriptor(blessing, blessing.uri)
    return summary, blessing, lines


def windows_of(windows: dict[str, list[dict[str, Any]]], split: str = "test"):
    """(history [n, L], actual [n, H]) of the target of a split's windows."""
    rows = windows[split]
    return (
        np.stack([w["history"][:, 0] for w in rows]),
        np.stack([w["future"][:, 0] for w in rows]),
    )


# -- A: forecasts that are not finite ------------------------------------------------------


def test_a_nan_forecast_has_no_metric_and_smape_is_not_zero():
    history = np.arange(20.0).reshape(2, 10)
    actual = np.ones((2, 3))
    forecast = np.full((2, 3), np.nan)
    forecast[0, 0] = 1.0
    got = forecast_metrics(actual, forecast, history)
    assert got["nonfinite"] == 5 and got["count"] == 6
    assert all(got[m] is None for m in ("mae", "rmse", "mape", "smape", "mase"))
    inf = forecast_metrics(actual, np.full((2, 3), np.inf), history)
    assert inf["smape"] is None and inf["nonfinite"] == 6
    finite = forecast_metrics(actual, actual + 1, history)
    assert finite["nonfinite"] == 0 and finite["smape"] == pytest.approx(200 / 3)


def test_a_candidate_forecasting_nan_is_not_blessed(tmp_path, series_examples, models):
    examples, windows = series_examples
    config = EvaluateSeriesConfig(
        season=12, plot_windows=PLOTS, thresholds={"smape": {"upper": 10}}
    )
    summary, blessing, _ = run_evaluate(tmp_path, examples, models["nan24"], config)
    n = len(windows["test"]) * HORIZON
    assert summary["blessed"] is False and blessing.properties["blessed"] is False
    assert summary["smape"] is None and summary["nonfinite_forecasts"] == n
    reasons = blessing.properties["reasons"]
    assert f"y: forecasts not finite: {n} of {n} values are NaN/inf" in reasons[0]
    assert "smape n/a fails <= 10 (undefined: the forecasts are not finite)" in reasons[1]
    # Undefined, never 0 and never NaN: the descriptor is plain JSON.
    descriptor = (Path(blessing.uri) / "artifact.json").read_text()
    recorded = json.loads(descriptor, parse_constant=pytest.fail)["properties"]
    assert recorded["metrics"] == dict.fromkeys(("mae", "rmse", "mape", "smape", "mase"))
    assert recorded["nonfinite_forecasts"] == n
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    assert metrics["targets"]["y"]["candidate"]["overall"]["smape"] is None


def _record_blessing(
    store: MetadataStore, model: Artifact, created_at: float, metrics: dict[str, Any]
) -> str:
    """A past evaluate run's BLESSED record in the store; returns the blessing's uri."""
    run_id = uuid.uuid4().hex
    store.start_run(run_id, "series")
    execution = store.start_execution(run_id, "evaluate", "evaluate", run_id[:16], {})
    uri = f"/past/{run_id}"
    store.record_output(
        execution,
        "blessing",
        uri=uri,
        type_name=ArtifactType.BLESSING,
        fingerprint=run_id[:16],
        node_id="evaluate",
        properties={
            "blessed": True,
            "model_name": "train",
            "model_uri": model.uri,
            "model_fingerprint": model.fingerprint,
            "metrics": metrics,
        },
        created_at=created_at,
    )
    store.finish_execution(execution, "COMPLETE")
    store.finish_run(run_id, "SUCCEEDED")
    return uri


def test_a_resolver_skips_a_blessing_with_nonfinite_metrics(tmp_path, models, caplog):
    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    try:
        # Older: a sound blessing (MASE undefined is fine). Newer: what evaluate recorded for
        # a NaN forecaster before the guard (sMAPE 0, everything else NaN).
        _record_blessing(store, models["last24"], 1000.0, {"mae": 1.5, "mase": None})
        bad = _record_blessing(
            store, models["last12"], 2000.0, {"mae": math.nan, "smape": 0.0, "rmse": math.nan}
        )
        config = EvaluateSeriesConfig(season=12, thresholds={"mae": {"upper": 9}})
        query = ResolverQuery(
            store, "series", str(tmp_path), "evaluate", config, {"model": models["mean24"]}
        )
        with caplog.at_level(logging.WARNING, logger="seqline.pipeline.resolvers"):
            resolved = LatestBlessedModel().resolve(query)
        assert resolved is not None and resolved.uri == models["last24"].uri
        (line,) = [r.getMessage() for r in caplog.records]
        assert bad in line and "metrics are not finite (mae=nan, rmse=nan)" in line
    finally:
        store.close()


# -- C: the last blessed forecaster trained on another lookback ------------------------------

NOT_WORSE = {"mae": {"absolute": 0}}


def test_c_a_shorter_lookback_baseline_is_scored_on_the_last_steps(
    tmp_path, series_examples, models
):
    """The probe's case: L=12 blessed, then an L=24 candidate with `mae: {absolute: 0}`. The
    old model reads the last 12 of each window's 24 steps; the worse candidate is refused."""
    examples, windows = series_examples
    history, actual = windows_of(windows)
    config = EvaluateSeriesConfig(
        season=12,
        plot_windows=PLOTS,
        thresholds={"mae": {"upper": 99}},
        change_thresholds=NOT_WORSE,
    )
    summary, blessing, lines = run_evaluate(
        tmp_path, examples, models["worse24"], config, baseline_model=models["mean12"]
    )
    want = np.abs(history[:, -SHORT:].mean(axis=1, keepdims=True) - actual).mean()
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())["targets"]["y"]
    assert metrics["baseline_model"]["overall"]["mae"] == pytest.approx(want, abs=1e-5)
    assert metrics["candidate"]["overall"]["mae"] == pytest.approx(
        np.abs(history[:, -1:] + 5 - actual).mean(), abs=1e-5
    )
    assert summary["blessed"] is False
    (change,) = [r for r in blessing.properties["reasons"] if "change vs baseline model" in r]
    assert change.endswith("required change <= 0: FAIL"), change
    checks = json.loads((Path(blessing.uri) / "checks.json").read_text())
    assert checks["baseline_model"]["compared"] == {"lookback": SHORT, "steps": HORIZON}
    assert (
        "scored on the last 12 of each window's 24 history steps"
        in (checks["baseline_model"]["note"])
    )
    assert not any("cannot be compared" in line for line in lines)

    # A worse short-lookback baseline against a better candidate: compared, and blessed.
    summary, blessing, _ = run_evaluate(
        tmp_path, examples, models["last24"], config, baseline_model=models["worse12"]
    )
    assert summary["blessed"] is True
    assert any(
        "change vs baseline model" in r and r.endswith("PASS")
        for r in blessing.properties["reasons"]
    )


@pytest.mark.parametrize(
    ("baseline", "properties", "why"),
    [
        (
            "last36",
            {},
            "it reads 36 history steps, more than the 24 each eval window holds (the "
            "candidate's lookback)",
        ),
        ("last12", {"targets": ["z"]}, "it forecasts targets ['z'], the candidate ['y']"),
        ("last12", {"covariates": ["t"]}, "it reads covariates ['t'], the candidate []"),
        (
            "step12",
            {},
            "it forecasts 1 steps ahead, fewer than the 3 the candidate is scored on",
        ),
    ],
)
def test_c_a_baseline_that_cannot_forecast_the_windows_fails_the_change_check(
    tmp_path, series_examples, models, baseline, properties, why
):
    examples, _ = series_examples
    base = models[baseline]
    if properties:
        base = model_artifact(
            Path(base.uri), base.properties["lookback"], f"{base.fingerprint}-x", **properties
        )
    config = EvaluateSeriesConfig(
        season=12,
        plot_windows=PLOTS,
        thresholds={"mae": {"upper": 99}},
        change_thresholds=NOT_WORSE,
    )
    summary, blessing, lines = run_evaluate(
        tmp_path, examples, models["last24"], config, baseline_model=base
    )
    assert summary["blessed"] is False
    (change,) = [r for r in blessing.properties["reasons"] if "change vs baseline" in r]
    assert change.startswith("y: mae (overall) change vs baseline model: FAIL (" + why), change
    assert "evaluate.allow_incomparable_baseline: true" in change
    assert "other columns" not in change
    checks = json.loads((Path(blessing.uri) / "checks.json").read_text())
    assert f"cannot be compared: {why}" in checks["baseline_model"]["note"]
    assert checks["baseline_model"]["compared"] == {}
    assert any(why in line for line in lines)

    allowed = EvaluateSeriesConfig(
        season=12,
        plot_windows=PLOTS,
        thresholds={"mae": {"upper": 99}},
        change_thresholds=NOT_WORSE,
        allow_incomparable_baseline=True,
    )
    summary, blessing, _ = run_evaluate(
        tmp_path, examples, models["last24"], allowed, baseline_model=base
    )
    assert summary["blessed"] is True
    (change,) = [r for r in blessing.properties["reasons"] if "change vs baseline" in r]
    assert change == (
        f"y: mae (overall) change vs baseline model: SKIPPED ({why}; allowed by "
        "evaluate.allow_incomparable_baseline)"
    )


def test_c_allow_incomparable_baseline_is_a_boolean():
    from seqline.pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="allow_incomparable_baseline: expected true or false"):
        EvaluateSeriesConfig(thresholds={"mae": {"upper": 1}}, allow_incomparable_baseline="no")


# -- D: gap-filled targets are not scored --------------------------------------------------


def test_d_metrics_leave_filled_targets_out():
    history = np.arange(40.0).reshape(4, 10)
    actual = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])
    forecast = actual + np.array([[1.0, 100, 1], [1, 1, 1], [1, 1, 100], [1, 1, 1]])
    observed = np.ones((4, 3), dtype=bool)
    observed[0, 1] = observed[2, 2] = False  # the two large errors are on filled steps
    got = forecast_metrics(actual, forecast, history, observed=observed)
    assert got["mae"] == pytest.approx(1.0) and got["rmse"] == pytest.approx(1.0)
    assert got["count"] == 10 and got["filled_excluded"] == 2
    assert forecast_metrics(actual, forecast, history)["mae"] > 10  # as it was scored before
    none = forecast_metrics(actual, forecast, history, observed=np.zeros((4, 3), dtype=bool))
    assert none["mae"] is None and none["count"] == 0 and none["filled_excluded"] == 12


def _with_mask(examples: Artifact, root: Path, split: str, mask: np.ndarray) -> Artifact:
    """A copy of `examples` whose `split` windows carry `future_observed` = mask [n, H]."""
    import shutil

    import tensorflow as tf

    from seqline.schemas.series import FUTURE_OBSERVED_KEY

    shutil.copytree(examples.uri, root)
    (path,) = (root / split).glob("data-*.tfrecord.gz")
    records = list(tf.data.TFRecordDataset(str(path), compression_type="GZIP").as_numpy_iterator())
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for raw, flags in zip(records, mask, strict=True):
            example = tf.train.Example.FromString(raw)
            values = example.features.feature[FUTURE_OBSERVED_KEY].int64_list.value
            values.extend(int(f) for f in flags)
            writer.write(example.SerializeToString())
    return Artifact(examples.type_name, str(root), "fp-masked", properties=examples.properties)


def test_d_evaluate_scores_observed_targets_only(tmp_path, series_examples, models):
    examples, windows = series_examples
    history, actual = windows_of(windows)
    rng = np.random.default_rng(3)
    mask = rng.random(actual.shape) > 0.4  # about 40% of the targets were filled
    masked = _with_mask(examples, tmp_path / "masked", "test", mask)
    config = EvaluateSeriesConfig(season=12, plot_windows=PLOTS, thresholds={"mae": {"upper": 99}})
    summary, blessing, lines = run_evaluate(tmp_path, masked, models["last24"], config)

    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    n_filled = int((~mask).sum())
    assert metrics["filled_targets_excluded"] == n_filled == summary["filled_excluded"]
    assert metrics["scored_targets"] == int(mask.sum())
    assert blessing.properties["filled_targets_excluded"] == n_filled
    assert any(f"left out {n_filled} of {mask.size} target steps" in line for line in lines)
    by_model = metrics["targets"]["y"]
    persistence = np.repeat(history[:, -1:], HORIZON, axis=1)
    seasonal = history[:, [LONG - 12 + h for h in range(HORIZON)]]
    for name, forecast in (("candidate", persistence), ("persistence", persistence),
                           ("seasonal_naive", seasonal)):  # fmt: skip
        overall = by_model[name]["overall"]
        want = np.abs(forecast - actual)[mask].mean()
        assert overall["mae"] == pytest.approx(want, abs=1e-5), name
        assert overall["count"] == mask.sum() and overall["filled_excluded"] == n_filled
        assert by_model[name]["by_step"]["count"] == mask.sum(axis=0).tolist()
        assert by_model[name]["by_step"]["mae"][0] == pytest.approx(
            np.abs(forecast - actual)[:, 0][mask[:, 0]].mean(), abs=1e-5
        )

    # The same windows without the mask (written before ingest recorded it): all scored.
    summary, blessing, _ = run_evaluate(tmp_path, examples, models["last24"], config)
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    assert metrics["filled_targets_excluded"] == 0 == summary["filled_excluded"]
    assert metrics["targets"]["y"]["candidate"]["overall"]["mae"] == pytest.approx(
        np.abs(persistence - actual).mean(), abs=1e-5
    )


# -- E: the split every title and message names --------------------------------------------


def test_e_titles_and_progress_name_the_eval_split(tmp_path, series_examples, models, monkeypatch):
    from seqline.components.evaluate import plots

    titles: list[str] = []
    real_fva, real_ebh = plots.forecast_vs_actual_png, plots.error_by_horizon_png

    def fva(*args: Any, **kwargs: Any) -> bytes:
        titles.append(kwargs["title"])
        return real_fva(*args, **kwargs)

    def ebh(*args: Any, **kwargs: Any) -> bytes:
        titles.append(kwargs["title"])
        return real_ebh(*args, **kwargs)

    monkeypatch.setattr(plots, "forecast_vs_actual_png", fva)
    monkeypatch.setattr(plots, "error_by_horizon_png", ebh)
    examples, windows = series_examples
    config = EvaluateSeriesConfig(season=12, thresholds={"mae": {"upper": 99}})
    _, _, lines = run_evaluate(tmp_path, examples, models["last24"], config)
    n = len(windows["test"])
    assert any(line.startswith(f"forecasting {n} 'test' windows") for line in lines), lines
    assert titles[0].startswith("y: test window ") and "eval" not in " ".join(titles)
    assert titles[-1] == f"y: MAE by steps ahead (test split, {n} windows)"


def test_e_an_empty_split_names_it(tmp_path):
    import tensorflow as tf

    from seqline.components.evaluate.forecast_evaluation import read_windows
    from seqline.pipeline.artifacts.model import ForecastOutput

    empty = str(tmp_path / "data-00000-of-00001.tfrecord.gz")
    with tf.io.TFRecordWriter(empty, options="GZIP"):
        pass
    facts = ForecastOutput(("y",), (), LONG, HORIZON, HORIZON)
    with pytest.raises(DataError, match=r"expected windows of the 'test' split \(evaluate"):
        read_windows([empty], facts, "test")


def test_e_text_evaluate_empty_split_names_it(tmp_path, binary_model):
    import tensorflow as tf

    from seqline.components.evaluate.scoring import score_models

    empty = str(tmp_path / "data-00000-of-00001.tfrecord.gz")
    with tf.io.TFRecordWriter(empty, options="GZIP"):
        pass
    with pytest.raises(DataError, match=r"expected examples of the 'test' split") as error:
        score_models(
            {"candidate": binary_model.path("saved_model")}, [empty], ["neg", "pos"], split="test"
        )
    assert "eval examples" not in str(error.value)


def test_a_baseline_forecaster_fitted_under_another_split_is_set_aside(
    tmp_path, series_examples, models
):
    """After split_fractions change, the last blessed forecaster was fitted on windows now in
    test: its inflated figures failed honest candidates' change thresholds."""
    examples, _ = series_examples
    now = {"ingest": "ingest_series", "fractions": [0.7, 0.15, 0.15]}
    before = {"ingest": "ingest_series", "fractions": [0.8, 0.1, 0.1]}
    split = dataclasses.replace(
        examples, properties={**examples.properties, "split_definition": now}
    )
    old = models["mean24"]
    baseline = dataclasses.replace(old, properties={**old.properties, "split_lineage": [before]})
    config = EvaluateSeriesConfig(
        season=12,
        plot_windows=PLOTS,
        thresholds={"mae": {"upper": 99}},
        change_thresholds=NOT_WORSE,
    )
    summary, blessing, lines = run_evaluate(
        tmp_path, split, models["worse24"], config, baseline_model=baseline
    )
    assert any("was set aside: it was fitted on Examples split differently" in x for x in lines)
    assert not any("change vs baseline model" in r and "FAIL" in r
                   for r in blessing.properties["reasons"])  # fmt: skip
    # The same baseline under this split is compared (and the worse candidate refused).
    same = dataclasses.replace(old, properties={**old.properties, "split_lineage": [now]})
    summary, blessing, _ = run_evaluate(
        tmp_path, split, models["worse24"], config, baseline_model=same
    )
    assert summary["blessed"] is False
    # A candidate warm started under the old split is refused outright.
    warm = dataclasses.replace(
        models["last24"],
        properties={**models["last24"].properties, "split_lineage": [before, now]},
    )
    with pytest.raises(DataError, match="split lineage includes another"):
        run_evaluate(tmp_path, split, warm, config)
