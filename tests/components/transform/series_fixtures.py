"""Hand-written series Examples artifacts in the exact layout of seqline.schemas.series.

- ``make_series(n, seed, level, season)``: float64 [n] trend + seasonality + noise.
- ``split_windows(values, lookback, horizon, stride, fractions)``: time-ordered splits, then
  windows inside each split (no window crosses a boundary), as ingest_series does.
- ``write_series_examples(uri, series, ...)``: writes
  `{uri}/{split}/data-00000-of-00001.tfrecord.gz` and returns the Examples Artifact with the
  contract's properties ("kind": "series", ...).
- ``run_component(component, ctx inputs, outputs dir)``: runs an executor like the runner does.

A window is a dict {"series_id": str, "window_end": int, "history": float [L, F],
"future": float [H, T + K]}; F = targets + covariates (targets first), T = targets, K = future
covariates (the last K covariates, whose horizon values the window also holds).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from tests.components.context import make_context

SPLITS = ("train", "eval", "test")
STEP_SECONDS = 3600


def make_series(
    n: int, seed: int, level: float = 10.0, season: int = 12, noise: float = 0.3
) -> np.ndarray:
    """float64 [n]: level + slow trend + a seasonal sine of period `season` + gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return level + 0.01 * t + 3.0 * np.sin(2 * np.pi * t / season) + noise * rng.normal(size=n)


def split_windows(
    values: np.ndarray,
    lookback: int,
    horizon: int,
    stride: int = 1,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    num_targets: int = 1,
    num_future_covariates: int = 0,
) -> dict[str, list[tuple[int, np.ndarray, np.ndarray]]]:
    """values float [n, F] -> {split: [(end index, history [L, F], future [H, T + K])]}, K =
    num_future_covariates (the last K columns).

    Splits are contiguous time ranges (train first); windows never cross a split boundary.
    """
    n = len(values)
    bounds = np.cumsum([0, *[int(round(f * n)) for f in fractions]])
    bounds[-1] = n
    out: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for split, start, stop in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
        rows = []
        for first in range(start, stop - lookback - horizon + 1, stride):
            end = first + lookback
            ahead = values[end : end + horizon]
            future_columns = [*range(num_targets)]
            future_columns += [*range(values.shape[1] - num_future_covariates, values.shape[1])]
            rows.append((end - 1, values[first:end], ahead[:, future_columns]))
        out[split] = rows
    return out


def _float_feature(values: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def serialize_window(
    series_id: str,
    window_end: int,
    history: np.ndarray,
    future: np.ndarray | None,
    targets: Sequence[str],
    covariates: Sequence[str],
    future_covariates: Sequence[str] = (),
) -> bytes:
    """One raw window tf.Example (seqline.schemas.series), serialized. `future` holds the
    targets' then the future covariates' columns [H, T + K] (None: no future features)."""
    import tensorflow as tf

    from seqline.schemas.series import SERIES_ID_KEY, WINDOW_END_KEY, future_key, history_key

    feature = {
        SERIES_ID_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[series_id.encode()])),
        WINDOW_END_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[window_end])),
    }
    for i, column in enumerate((*targets, *covariates)):
        feature[history_key(column)] = _float_feature(history[:, i])
    if future is not None:
        for i, column in enumerate((*targets, *future_covariates)):
            feature[future_key(column)] = _float_feature(future[:, i])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_series_examples(
    uri: str | Path,
    series: Mapping[str, np.ndarray],
    targets: Sequence[str] = ("y",),
    covariates: Sequence[str] = (),
    lookback: int = 8,
    horizon: int = 2,
    stride: int = 1,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    future_covariates: Sequence[str] = (),
    frequency: str = "1h",
) -> tuple[Artifact, dict[str, list[dict[str, Any]]]]:
    """Writes a series Examples artifact; returns it and the windows written, per split.

    Args:
        series: series id -> float [n] (one column) or [n, F] values; use {"": values} for a
            single series (its series_ids property is then []).
        future_covariates: the last K of `covariates` also written over the horizon.
        frequency: the step the window_end timestamps advance by (STEP_SECONDS for "1h").
    """
    assert tuple(covariates[len(covariates) - len(future_covariates) :]) == tuple(
        future_covariates
    ), "future_covariates must be the last covariates"
    step = {"1h": STEP_SECONDS, "30min": STEP_SECONDS // 2}[frequency]
    import tensorflow as tf

    windows: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for series_id, values in series.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        for split, rows in split_windows(
            values, lookback, horizon, stride, fractions, len(targets), len(future_covariates)
        ).items():
            for end, history, future in rows:
                windows[split].append(
                    {
                        "series_id": series_id,
                        "window_end": end * step,
                        "history": history,
                        "future": future,
                    }
                )
    for split, rows in windows.items():
        os.makedirs(f"{uri}/{split}", exist_ok=True)
        path = f"{uri}/{split}/data-00000-of-00001.tfrecord.gz"
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for w in rows:
                writer.write(
                    serialize_window(
                        w["series_id"],
                        w["window_end"],
                        w["history"],
                        w["future"],
                        targets,
                        covariates,
                        future_covariates,
                    )
                )
    ids = [s for s in series if s]
    artifact = Artifact(
        ArtifactType.SERIES_WINDOWS,
        str(uri),
        "fp-series-examples",
        properties={
            "kind": "series",
            "lookback": lookback,
            "horizon": horizon,
            "stride": stride,
            "frequency": frequency,
            "targets": list(targets),
            "covariates": list(covariates),
            "future_covariates": list(future_covariates),
            "series_ids": ids,
            "splits": list(SPLITS),
            "counts": {split: len(rows) for split, rows in windows.items()},
            "rejected": 0,
            "input": sum(len(v) for v in series.values()),
        },
    )
    return artifact, windows


def run_component(
    component: Any,
    config: Any,
    inputs: Mapping[str, Artifact],
    base: Path,
    fingerprint: str = "fp",
    resolved: Mapping[str, Artifact | None] | None = None,
) -> tuple[dict[str, Any], dict[str, Artifact]]:
    """Runs `component`'s executor on fresh empty output dirs under `base` (as the runner does)
    and publishes artifact.json; returns (summary, outputs)."""
    outputs = {}
    for name, type_name in component.outputs.items():
        uri = base / name
        uri.mkdir(parents=True)
        outputs[name] = Artifact(type_name, str(uri), f"{fingerprint}-{name}")
    (base / "tmp").mkdir()
    ctx = make_context(
        config=config,
        inputs=dict(inputs),
        outputs=outputs,
        temp_dir=str(base / "tmp"),
        beam_args=("--runner=FnApiRunner",),
        node_id=component.name,
        resolved=resolved,
    )
    summary = dict(component.executor(ctx))
    for artifact in outputs.values():
        write_descriptor(artifact, artifact.uri)
    return summary, outputs


def read_transformed_series(uri: str, split: str) -> list[dict[str, np.ndarray]]:
    """The transformed series examples of one split as {feature: float array}, in file order."""
    import glob

    import tensorflow as tf

    files = sorted(glob.glob(f"{uri}/{split}/data-*-of-*.tfrecord.gz"))
    assert files, f"no transformed shards for split {split!r} in {uri}"
    rows = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(raw).features.feature
        rows.append({k: np.array(v.float_list.value) for k, v in feature.items()})
    return rows
