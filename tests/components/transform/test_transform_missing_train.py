"""A train split listed with its folder but none of its shards (an incomplete Examples artifact)
fails the transform before anything runs, naming the pattern that matched nothing, as the
analysis read (beam.io.ReadFromTFRecord, validate=True) made it fail: an analysis of no records
is no error to TFT (text then failed saying every text was empty, per-series scaling with
TensorFlow's "Reduction axis 1 is empty in shape [2,0]")."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_transform")

from seqline.components.transform.config import (  # noqa: E402
    TransformSeriesConfig,
    TransformTextConfig,
)
from tests.components.transform.series_fixtures import (  # noqa: E402
    make_series,
    run_component,
    write_series_examples,
)
from tests.components.transform.transform_fixtures import (  # noqa: E402
    run_transform,
    write_examples,
)


def _remove_shards(split_dir: Path) -> str:
    shards = sorted(split_dir.glob("data-*"))
    assert shards
    for shard in shards:
        os.remove(shard)
    return re.escape(str(split_dir / "data-*-of-*.tfrecord.gz"))


def test_series_train_split_without_shards_fails_naming_its_pattern(tmp_path: Path) -> None:
    from seqline.components.transform.series_component import COMPONENT

    examples, windows = write_series_examples(
        tmp_path / "examples", {"a": make_series(200, seed=1), "b": make_series(200, seed=2)}
    )
    assert windows["eval"] and windows["test"]
    pattern = _remove_shards(tmp_path / "examples" / "train")
    with pytest.raises(OSError, match=f"No files found based on the file pattern {pattern}"):
        run_component(COMPONENT, TransformSeriesConfig(), {"examples": examples}, tmp_path / "out")


def test_text_train_split_without_shards_fails_naming_its_pattern(tmp_path: Path) -> None:
    examples = write_examples(
        tmp_path / "examples",
        {"train": [("a good film", "pos"), ("a bad film", "neg")], "eval": [("good", "pos")]},
        ["neg", "pos"],
    )
    pattern = _remove_shards(tmp_path / "examples" / "train")
    with pytest.raises(OSError, match=f"No files found based on the file pattern {pattern}"):
        run_transform(tmp_path, examples, TransformTextConfig(vocab_size=10, max_tokens=4))
