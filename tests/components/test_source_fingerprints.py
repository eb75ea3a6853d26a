"""Files a node reads from outside the pipeline root are in its cache key: train's and tune's
pretrained vectors, validate's serving logs. Each was a cache hit on changed data."""

from __future__ import annotations

import os

from seqline.components.train.config import ModelConfig, TrainTextConfig
from seqline.components.train.pretrained_source import pretrained_fingerprint
from seqline.components.train.text_component import COMPONENT as TRAIN
from seqline.components.tune.component import COMPONENT as TUNE
from seqline.components.tune.config import TuneTextConfig
from seqline.components.validate.component import COMPONENT as VALIDATE
from seqline.components.validate.config import ValidateConfig


def _replace(path, text: str) -> None:
    """New content of the same size under the old mtime, renamed over the file (rsync -t)."""
    before = os.stat(path)
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(fresh, path)


def test_replacing_the_pretrained_vectors_changes_train_and_tune_fingerprints(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("good 0.1 0.2\nbad 0.3 0.4\n")
    train = TrainTextConfig(model=ModelConfig(pretrained={"path": str(vectors)}))
    tune = TuneTextConfig(space={"units": {"choice": [8, 16]}}, train=train)
    assert TRAIN.source_fingerprint is pretrained_fingerprint
    assert TUNE.source_fingerprint is not None
    first = (pretrained_fingerprint(train), TUNE.source_fingerprint(tune))
    assert first[0] and first[0] == first[1]
    _replace(vectors, "good 0.9 0.2\nbad 0.3 0.4\n")
    assert pretrained_fingerprint(train) != first[0]
    assert TUNE.source_fingerprint(tune) != first[1]
    assert pretrained_fingerprint(TrainTextConfig()) == ""


def test_a_new_serving_log_changes_validates_fingerprint(tmp_path):
    (tmp_path / "requests-1.tfrecord.gz").write_bytes(b"one")
    config = ValidateConfig(serving_examples=str(tmp_path / "requests-*.tfrecord.gz"))
    assert VALIDATE.source_fingerprint is not None
    first = VALIDATE.source_fingerprint(config)
    assert first == VALIDATE.source_fingerprint(config)
    (tmp_path / "requests-2.tfrecord.gz").write_bytes(b"two")
    assert VALIDATE.source_fingerprint(config) != first
    assert VALIDATE.source_fingerprint(ValidateConfig()) == ""
