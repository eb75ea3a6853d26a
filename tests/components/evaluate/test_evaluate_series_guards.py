"""evaluate_series guards found by a probing session: forecasts that are not finite, a last
blessed forecaster trained on another lookback, gap-filled targets, and the split every
title and message names. Hand-built forecaster SavedModels make every forecast known exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.components.evaluate.forecast_config import EvaluateSeriesConfig
from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from seqline.pipeline.errors import DataError
from tests.components.context import make_context

HORIZON = 3
LONG, SHORT = 24, 12  # the candidate's lookback, and an older model's


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
    }
    out = {}
    for name, (lookback, body) in built.items():
        save_forecaster(root / name, lookback, body)
        out[name] = model_artifact(root / name, lookback, f"fp-{name}")
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
