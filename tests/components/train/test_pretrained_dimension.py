"""A pretrained-vectors file whose dimension is not model.embedding_dim is refused before
anything runs (train found it after ingest and transform; a tune trial drawing such an
embedding_dim failed mid-search)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seqline.components.train.config import TrainTextConfig
from seqline.components.train.text_component import check as check_train
from seqline.components.tune.component import check as check_tune
from seqline.components.tune.config import TuneTextConfig
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError

SIX = "great 0.1 0.2 0.3 0.4 0.5 0.6\nbad -0.1 -0.2 -0.3 -0.4 -0.5 -0.6\n"


def vectors(tmp_path: Path, text: str = SIX, name: str = "vec.txt") -> str:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def train(path: str, embedding_dim: int) -> TrainTextConfig:
    model = {"embedding_dim": embedding_dim, "pretrained": {"path": path}}
    return build_dataclass(TrainTextConfig, {"model": model}, "train")


@pytest.mark.parametrize(
    ("text", "name"),
    [(SIX, "vec.txt"), ("2 6\n" + SIX, "vec.txt"), ("\n" + SIX, "vec.txt.gz")],
)
def test_the_dimension_is_read_past_a_header_and_blank_lines(tmp_path, text, name) -> None:
    from seqline.components.train.pretrained_source import local_dimension

    assert local_dimension(vectors(tmp_path, text, name)) == 6


def test_train_refuses_a_mismatch_and_accepts_a_match(tmp_path) -> None:
    path = vectors(tmp_path)
    check_train(train(path, 6))
    with pytest.raises(ConfigError, match=r"model.embedding_dim: expected .* dimension 6 .*got 8"):
        check_train(train(path, 8))


def test_tune_refuses_a_space_drawing_a_mismatched_dimension(tmp_path) -> None:
    path = vectors(tmp_path)
    base = {"model": {"embedding_dim": 6, "pretrained": {"path": path}}}

    def tune(space: dict) -> TuneTextConfig:
        return build_dataclass(TuneTextConfig, {"space": space, "train": base}, "tune")

    check_tune(tune({"units": {"choice": [4, 8]}}))
    with pytest.raises(ConfigError, match=r"tune.space.embedding_dim: .* dimension 6 .*got 8"):
        check_tune(tune({"embedding_dim": {"choice": [6, 8]}}))
    with pytest.raises(ConfigError, match=r"tune.space.embedding_dim"):
        check_tune(tune({"embedding_dim": {"range": [4, 6]}}))
