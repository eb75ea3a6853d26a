"""_lookup_per_key (per-series offset / scale by series id) compares each distinct id of a batch
with the analyzed ids once: every row still gets its own series' value, an id the analysis
never saw gets the fallback, and an empty batch gives an empty result."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_transform")

from seqline.components.transform.series_preprocessing import _lookup_per_key  # noqa: E402

VOCAB = [b"a", b"b", b"c", b"d"]
VALUES = np.array([1.5, 2.5, 3.5, 4.5], dtype=np.float32)


def _lookup(keys: list[bytes]) -> list[float]:
    out = _lookup_per_key(
        tf.constant(keys, dtype=tf.string),
        tf.constant(VOCAB),
        tf.constant(VALUES),
        tf.constant(-1.0, dtype=tf.float64),
    )
    assert out.dtype == tf.float32
    return out.numpy().tolist()


def test_each_row_gets_its_series_value_in_row_order():
    keys = [b"c", b"c", b"a", b"d", b"c", b"b", b"a"]
    assert _lookup(keys) == [VALUES[VOCAB.index(k)] for k in keys]


def test_unseen_ids_get_the_fallback_and_an_empty_batch_is_empty():
    assert _lookup([b"z", b"b", b"z", b""]) == [-1.0, 2.5, -1.0, -1.0]
    assert _lookup([]) == []


def test_inside_a_traced_function_with_an_unknown_batch_size():
    fn = tf.function(
        lambda keys: _lookup_per_key(keys, tf.constant(VOCAB), tf.constant(VALUES), 0.0),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    assert fn(tf.constant([b"d", b"x", b"d"])).numpy().tolist() == [4.5, 0.0, 4.5]
