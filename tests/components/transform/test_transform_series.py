"""The transform component on series windows: scaling fitted on train only, per series, log1p,
and the offset/scale that invert the target's scaling, checked against numpy."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from seqline.components.transform.config import TransformSeriesConfig
from seqline.components.transform.series_component import COMPONENT
from seqline.pipeline.artifacts import SeriesWindows
from seqline.pipeline.errors import ConfigError, DataError
from tests.components.transform.series_fixtures import (
    SPLITS,
    make_series,
    read_transformed_series,
    run_component,
    write_series_examples,
)

LOOKBACK, HORIZON = 6, 2


def _sorted_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows (any order, as Beam writes them) in a canonical order, for set comparison."""
    matrix = np.array(rows)
    return matrix[np.lexsort(matrix.T[::-1])]


def _expected(windows, offsets, scales, log1p_targets: int = 0):
    """{split: sorted [n, L*F + H*T + 2T] rows} computed with numpy from the raw windows."""
    out = {}
    for split, rows in windows.items():
        expected = []
        for w in rows:
            o = np.asarray(offsets[w["series_id"]] if isinstance(offsets, dict) else offsets)
            s = np.asarray(scales[w["series_id"]] if isinstance(scales, dict) else scales)
            history = w["history"].copy()
            future = w["future"].copy()
            if log1p_targets:
                history[:, :log1p_targets] = np.log1p(history[:, :log1p_targets])
                future = np.log1p(future)
            t = future.shape[1]
            expected.append(
                np.concatenate(
                    [
                        ((history - o) / s).reshape(-1),
                        ((future - o[:t]) / s[:t]).reshape(-1),
                        o[:t],
                        s[:t],
                    ]
                )
            )
        out[split] = _sorted_rows(expected)
    return out


def _actual(transformed_uri: str) -> dict[str, np.ndarray]:
    out = {}
    for split in SPLITS:
        rows = read_transformed_series(transformed_uri, split)
        assert rows and sorted(rows[0]) == ["history", "target", "target_offset", "target_scale"]
        out[split] = _sorted_rows(
            [
                np.concatenate([r["history"], r["target"], r["target_offset"], r["target_scale"]])
                for r in rows
            ]
        )
    return out


@pytest.mark.slow
def test_global_minmax_is_fitted_on_train_only_and_applied_to_every_split(tmp_path):
    n = 80
    trend = 0.3 * np.arange(n)  # strong enough that eval/test rise above the train range
    values = np.stack([make_series(n, seed=1) + trend, 100 + 5 * make_series(n, seed=2)], axis=1)
    examples, windows = write_series_examples(
        tmp_path / "examples", {"": values}, ("y",), ("x",), LOOKBACK, HORIZON
    )
    summary, outputs = run_component(
        COMPONENT, TransformSeriesConfig(), {"examples": examples}, tmp_path / "out"
    )

    train_values = np.concatenate([w["history"] for w in windows["train"]])
    low, high = train_values.min(axis=0), train_values.max(axis=0)
    expected = _expected(windows, low, high - low)
    actual = _actual(outputs["transformed_examples"].uri)
    for split in SPLITS:
        np.testing.assert_allclose(actual[split], expected[split], rtol=1e-5, atol=1e-5)
    train_history = actual["train"][:, : LOOKBACK * 2].reshape(-1, LOOKBACK, 2)
    np.testing.assert_allclose(train_history.min(axis=(0, 1)), [0, 0], atol=1e-6)
    np.testing.assert_allclose(train_history.max(axis=(0, 1)), [1, 1], atol=1e-6)
    # Later splits are scaled with the train statistics (the trend leaves [0, 1]).
    assert actual["test"][:, 0].max() > 1.0

    graph = outputs["transform_graph"].properties
    assert graph["kind"] == "series" and graph["per_series"] is False
    spec = outputs["transform_graph"].series().windows  # num_features is derived, not stored
    assert (spec.lookback, spec.horizon, spec.num_features) == (LOOKBACK, HORIZON, 2)
    assert outputs["transformed_examples"].properties["counts"] == {
        s: len(w) for s, w in windows.items()
    }
    assert summary["splits"] == outputs["transformed_examples"].properties["counts"]


@pytest.mark.slow
def test_per_series_zscore_with_log1p_and_the_inverse_restores_original_units(tmp_path):
    n = 60
    series = {"a": make_series(n, seed=3, level=5), "b": make_series(n, seed=4, level=40)}
    examples, windows = write_series_examples(
        tmp_path / "examples", series, ("y",), (), LOOKBACK, HORIZON
    )
    config = TransformSeriesConfig(scaling="zscore", log1p=True)
    _, outputs = run_component(COMPONENT, config, {"examples": examples}, tmp_path / "out")

    offsets, scales = {}, {}
    for sid in series:
        train = np.log1p(
            np.concatenate([w["history"] for w in windows["train"] if w["series_id"] == sid])
        )
        offsets[sid], scales[sid] = train.mean(axis=0), train.std(axis=0)
    expected = _expected(windows, offsets, scales, log1p_targets=1)
    actual = _actual(outputs["transformed_examples"].uri)
    for split in SPLITS:
        np.testing.assert_allclose(actual[split], expected[split], rtol=1e-4, atol=1e-4)

    # target * scale + offset, then expm1, is the raw future again.
    raw_futures = _sorted_rows([w["future"].reshape(-1) for w in windows["eval"]])
    rows = actual["eval"]
    target = rows[:, LOOKBACK : LOOKBACK + HORIZON]
    offset, scale = rows[:, -2:-1], rows[:, -1:]
    restored = _sorted_rows(list(np.expm1(target * scale + offset)))
    np.testing.assert_allclose(restored, raw_futures, rtol=1e-4)
    assert outputs["transform_graph"].properties["per_series"] is True


def test_nonfinite_rows_are_found_per_row():
    from seqline.components.transform.beam_pipeline import _nonfinite_rows

    batch = pa.RecordBatch.from_pydict(
        {
            "history": pa.array([[0.1, 0.2], [np.nan, 0.0], [0.3, np.inf]], pa.list_(pa.float32())),
            "tokens": pa.array([[1, 2], [3, 4], [5, 6]], pa.list_(pa.int64())),
        }
    )
    assert _nonfinite_rows(batch).tolist() == [False, True, True]


def test_series_config_and_artifact_errors_say_what_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="scaling: expected one of"):
        TransformSeriesConfig(scaling="robust")  # type: ignore[arg-type]

    def windows(**properties):
        return SeriesWindows("SeriesWindows", str(tmp_path), "fp", properties=properties).windows

    with pytest.raises(DataError, match="missing \\['lookback'\\]"):
        windows(horizon=2, targets=["y"])
    with pytest.raises(DataError, match="distinct target and covariate"):
        windows(lookback=3, horizon=1, targets=["y"], covariates=["y"], splits=[])
