"""How the transform pipeline reads every split in one read: split from path, per-split batches.

The single read (ReadAllFromTFRecord with file names) is what keeps the transform's memory flat
on FnApiRunner (see AnalyzeAndTransformSplits); these tests pin the two pieces it relies on:
each record is given the split whose file pattern its path matches, and the decoder never mixes
splits in one record batch, whatever order the records arrive in.
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


def test_decode_batches_each_split_apart_and_flushes_the_rest_at_bundle_end() -> None:
    records = [("train", f"t{i}") for i in range(5)] + [("eval", "e0"), ("train", "t5")]
    records.insert(1, ("eval", "e1"))  # splits interleaved, as a shuffled read may give them
    decode = _DecodeTagged(raw_schema().SerializeToString(), batch_size=3)
    decode.setup()
    decode.start_bundle()
    batches = [b for split, text in records for b in decode.process((split, _example(text, "pos")))]
    batches += [wv.value for wv in decode.finish_bundle()]

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
        ("eval", ["e1", "e0"]),
    ]
