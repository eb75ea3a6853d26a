"""Helpers for ingest_series tests: run the executor like the runner does, read its outputs."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

from seqline.components.ingest_series.component import COMPONENT
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.pipeline.artifact import Artifact, ArtifactType
from tests.components.context import make_context


def run_component(
    tmp_path: Path, config: IngestSeriesConfig, name: str = "out", **ctx_fields: Any
) -> tuple[dict, Artifact, Artifact]:
    """Runs the executor with fresh empty output dirs and a scratch dir, as the runner does;
    returns (summary, examples artifact, rejected artifact)."""
    base = tmp_path / name
    outputs = {
        "examples": Artifact(ArtifactType.SERIES_WINDOWS, str(base / "examples"), "fp-examples"),
        "rejected": Artifact(ArtifactType.REJECTED, str(base / "rejected"), "fp-rejected"),
    }
    for artifact in outputs.values():
        os.makedirs(artifact.uri)
    (base / "tmp").mkdir()
    ctx = make_context(
        config=config, inputs={}, outputs=outputs, temp_dir=str(base / "tmp"), **ctx_fields
    )
    summary = COMPONENT.executor(ctx)
    return dict(summary), outputs["examples"], outputs["rejected"]


def read_windows(uri: str, split: str, config: IngestSeriesConfig) -> list[dict[str, Any]]:
    """Every window of `{uri}/{split}/data-*-of-*.tfrecord.gz` parsed with the contract's
    feature spec (schemas/series.py, with the future_observed mask), as dicts of numpy
    values, sorted by (series, end)."""
    import tensorflow as tf

    from seqline.schemas.series import future_observed_spec, raw_series_feature_spec

    files = sorted(glob.glob(f"{uri}/{split}/data-*-of-*.tfrecord.gz"))
    assert files, f"no TFRecord shards for split {split!r} in {uri}"
    spec = raw_series_feature_spec(
        config.targets,
        config.history_covariates(),
        config.lookback,
        config.horizon,
        future_covariates=config.future_covariates,
    )
    spec.update(future_observed_spec(config.horizon))
    out = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        assert set(example.features.feature) == set(spec), sorted(example.features.feature)
        parsed = tf.io.parse_single_example(raw, spec)
        window = {key: value.numpy() for key, value in parsed.items()}
        window["series_id"] = window["series_id"].decode()
        window["window_end"] = int(window["window_end"])
        out.append(window)
    return sorted(out, key=lambda w: (w["series_id"], w["window_end"]))


def read_rejections(uri: str) -> list[dict]:
    lines = []
    for path in sorted(glob.glob(f"{uri}/rejected-*.jsonl")):
        text = Path(path).read_text(encoding="utf-8")
        lines += [json.loads(line) for line in text.splitlines() if line.strip()]
    return sorted(lines, key=lambda r: (r["source"], r["position"]))
