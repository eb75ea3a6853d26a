"""How the transform pipeline reads every split in one read: split from path, per-split batches.

The single read (ReadTFRecordBatches over every split's files) is what keeps the transform's
memory flat on FnApiRunner (see AnalyzeAndTransformSplits); these tests pin the two pieces it
relies on: each record is given the split whose file pattern its path matches, and a record
batch never mixes splits, whatever order the files arrive in.
"""

from __future__ import annotations

import pytest

pa = pytest.importorskip("pyarrow")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_transform")

from seqline.components.transform.beam_pipeline import (  # noqa: E402
    SPLIT_COLUMN,
    _DecodeTagged,
    _split_of,
    raw_schema,
)
from seqline.schemas.text import LABEL_KEY, TEXT_KEY  # noqa: E402

PATTERNS = {
    "train": "/root/examples/train/data-*-of-*.tfrecord.gz",
    "eval": "/root/examples/eval/data-*-of-*.tfrecord.gz",
}


def _example(text: str, label: str) -> bytes:
    feature = {
        TEXT_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
        LABEL_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_split_of_names_the_split_whose_pattern_matches_the_path() -> None:
    assert _split_of("/root/examples/eval/data-00001-of-00002.tfrecord.gz", PATTERNS) == "eval"
    assert _split_of("/root/examples/train/data-00000-of-00001.tfrecord.gz", PATTERNS) == "train"


def test_split_of_a_path_no_pattern_matches_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="/root/examples/test/data-0.tfrecord.gz"):
        _split_of("/root/examples/test/data-0.tfrecord.gz", PATTERNS)


def test_reading_batches_each_split_apart_and_decoding_keeps_the_split(tmp_path) -> None:
    import functools

    from seqline.pipeline.tfrecord_batches import ReadTFRecordBatches

    patterns = {
        split: str(tmp_path / split / "data-*-of-*.tfrecord.gz") for split in ("train", "eval")
    }
    files = {
        ("train", 0): ["t0", "t1"],
        ("eval", 0): ["e0"],
        ("train", 1): ["t2", "t3", "t4", "t5"],
        ("eval", 1): ["e1"],
    }
    paths = []
    for (split, shard), texts in files.items():  # splits interleaved, as a reshuffle may give
        (tmp_path / split).mkdir(exist_ok=True)
        path = str(tmp_path / split / f"data-{shard:05d}-of-00002.tfrecord.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for text in texts:
                writer.write(_example(text, "pos"))
        paths.append(path)
    read = ReadTFRecordBatches(3, group=functools.partial(_split_of, file_patterns=patterns))
    decode = _DecodeTagged(raw_schema().SerializeToString())
    decode.setup()
    read.start_bundle()
    lists = [b for path in paths for b in read.process(path)]
    lists += [wv.value for wv in read.finish_bundle()]
    batches = [batch for element in lists for batch in decode.process(element)]

    seen = []
    for batch in batches:
        splits = {s.decode() for s in batch.column(SPLIT_COLUMN).flatten().to_pylist()}
        assert len(splits) == 1, f"a batch mixes splits {splits}"
        texts = [t.decode() for t in batch.column(TEXT_KEY).flatten().to_pylist()]
        assert batch.num_rows <= 3
        seen.append((splits.pop(), texts))
    # Full batches as soon as a split has 3 records; remainders at the end, in split order.
    assert seen == [
        ("train", ["t0", "t1", "t2"]),
        ("train", ["t3", "t4", "t5"]),
        ("eval", ["e0", "e1"]),
    ]
