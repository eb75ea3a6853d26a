"""Warm start across a changed split, through the real runner: the probe's case (split_ratios
0.8/0.1/0.1 -> 0.5/0.1/0.4 with warm_start: true) blessed and pushed a model fitted on most of
the new test split. Now train refuses it, and with if_compatible the new model trains from
scratch and evaluate sets the old blessed model aside instead of comparing with it on records
it was fitted on."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.components.ingest_text.splitting import assign_split, split_boundaries
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.runner import run_pipeline
from seqline.schemas.text import standardized_text

pytestmark = pytest.mark.slow  # three short text pipelines

CONFIG = """
name: split_change
kind: text
root: out/pipeline
components:
  ingest_text:
    source: reviews.csv
    labels: [neg, pos]
    split_ratios: RATIOS
  transform: {vocab_size: 10, max_tokens: 24}
  train:
    model: {embedding_dim: 8, layer: gru, units: 8}
    epochs: 1
    batch_size: 64
    warm_start: WARM
  evaluate:
    thresholds: {accuracy: {lower: 0.0}}
    change_thresholds: {accuracy: {absolute: -1.0}}
  push: {serving_root: out/serving, model_name: reviews}
"""
OLD = "{train: 0.8, eval: 0.1, test: 0.1}"
NEW = "{train: 0.5, eval: 0.1, test: 0.4}"


def _write_corpus(path: Path, n: int = 600) -> None:
    """Texts over six words of clearly different frequencies: every split's vocabulary (and
    so its hash) is the same, as in the probe, so only the split tells the runs apart."""
    import random

    rng = random.Random(3)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    lines = ["text,label"]
    for _ in range(n):
        tokens = rng.choices(words, weights=[35, 25, 17, 12, 7, 4], k=20)
        lines.append(f"{' '.join(tokens)},{'pos' if tokens.count('alpha') > 6 else 'neg'}")
    path.write_text("\n".join(lines) + "\n")


def _config(tmp_path: Path, ratios: str, warm: str) -> Path:
    path = tmp_path / f"pipeline-{len(list(tmp_path.glob('pipeline-*')))}.yaml"
    path.write_text(CONFIG.replace("RATIOS", ratios).replace("WARM", warm))
    return path


def test_a_changed_split_is_never_blessed_on_records_a_model_was_fitted_on(
    tmp_path: Path,
) -> None:
    _write_corpus(tmp_path / "reviews.csv")
    first = run_pipeline(load_pipeline(_config(tmp_path, OLD, "true")))
    old_model = first.node("train").outputs["model"]
    old_definition = first.node("ingest_text").outputs["examples"].properties["split_definition"]
    assert old_model.properties["split_lineage"] == [old_definition]
    assert first.node("push").outputs["pushed_model"].properties["pushed"] is True

    # What the probe measured: most of the new test split is what the old model was fitted on.
    import csv

    with open(tmp_path / "reviews.csv") as f:
        keys = [standardized_text(row["text"]) for row in csv.DictReader(f)]
    old, new = (split_boundaries(r) for r in ({"train": .8, "eval": .1, "test": .1},
                                              {"train": .5, "eval": .1, "test": .4}))  # fmt: skip
    new_test = [k for k in keys if assign_split(k, new) == "test"]
    seen = [k for k in new_test if assign_split(k, old) != "test"]
    assert len(seen) > len(new_test) / 2

    with pytest.raises(ConfigError) as refused:
        run_pipeline(load_pipeline(_config(tmp_path, NEW, "true")))
    message = str(refused.value)
    # The split is the only difference: the same vocabulary, labels and architecture.
    assert f"the last blessed model {old_model.uri} cannot seed this model: split " in message
    assert "vocabulary" not in message.split(". Fix:")[0]
    assert "split definition: the baseline's weights were fitted on Examples split" in message
    assert "warm_start: false" in message

    second = run_pipeline(load_pipeline(_config(tmp_path, NEW, "if_compatible")))
    model = second.node("train").outputs["model"]
    new_definition = second.node("ingest_text").outputs["examples"].properties["split_definition"]
    assert new_definition != old_definition
    assert model.properties["warm_started_from"] is None
    assert "split definition" in model.properties["warm_start_skipped"]
    assert model.properties["split_lineage"] == [new_definition]
    blessing = second.node("evaluate").outputs["blessing"]
    assert blessing.properties["baseline_model_uri"] is None
    assert any(
        f"SKIPPED (the last blessed model {old_model.uri} was set aside" in reason
        for reason in blessing.properties["reasons"]
    )
    assert blessing.properties["blessed"] is True  # on the value threshold, on unseen records
