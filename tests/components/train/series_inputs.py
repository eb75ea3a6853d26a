"""Series inputs for train / forecasting tests: hand-written windows -> the real transform, and
a small trained forecaster (the real train component)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqline.pipeline.artifact import Artifact
from tests.components.transform.series_fixtures import (
    make_series,
    run_component,
    write_series_examples,
)

LOOKBACK, HORIZON = 8, 3
SERIES = {"a": (5.0, 11), "b": (50.0, 12)}  # id -> (level, seed)


@dataclass(frozen=True)
class SeriesRun:
    """The artifacts of one transform + train run and the raw windows behind them."""

    examples: Artifact
    transform_graph: Artifact
    transformed_examples: Artifact
    model: Artifact
    model_run: Artifact
    windows: dict[str, list[dict[str, Any]]]
    summary: dict[str, Any]


def raw_series(n: int = 90) -> dict[str, np.ndarray]:
    """Two series of one target "y" and one covariate "x" (a phase-shifted copy), float [n, 2]."""
    out = {}
    for sid, (level, seed) in SERIES.items():
        y = make_series(n, seed=seed, level=level)
        x = np.roll(y, 3) * 0.1
        out[sid] = np.stack([y, x], axis=1)
    return out


def transform_and_train(base: Path, train_config: Any, transform_config: Any = None) -> SeriesRun:
    """Writes windows of raw_series(), runs the transform and train components on them."""
    from seqline.components.train.series_component import COMPONENT as TRAIN
    from seqline.components.transform.config import TransformSeriesConfig
    from seqline.components.transform.series_component import COMPONENT as TRANSFORM

    examples, windows = write_series_examples(
        base / "examples", raw_series(), ("y",), ("x",), LOOKBACK, HORIZON
    )
    _, transformed = run_component(
        TRANSFORM, transform_config or TransformSeriesConfig(), {"examples": examples}, base / "tf"
    )
    summary, trained = run_component(TRAIN, train_config, transformed, base / "train")
    return SeriesRun(
        examples,
        transformed["transform_graph"],
        transformed["transformed_examples"],
        trained["model"],
        trained["model_run"],
        windows,
        summary,
    )
