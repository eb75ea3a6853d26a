"""The pure pieces of the preprocessing_fn and the config checks (eager TensorFlow, no Beam)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seqline.components.transform.config import TransformTextConfig
from seqline.pipeline.errors import ConfigError

tf = pytest.importorskip("tensorflow")
preprocessing = pytest.importorskip("seqline.components.transform.preprocessing")


def _strings(tensor) -> list:
    return [s.decode() for s in tensor.numpy().tolist()]


def _tokens(texts: list[str], strip_html: bool = True) -> list[list[str]]:
    ragged = preprocessing.tokenize(tf.constant(texts), strip_html=strip_html)
    return [[t.decode() for t in row] for row in ragged.to_list()]


def test_standardize_lowercases_strips_html_tags_and_punctuation() -> None:
    out = preprocessing.standardize(
        tf.constant(["Great FILM.<br /><br />Loved it!", "Don't <i>ever</i> (again)?", "a<p>b"])
    )
    assert _strings(out) == ["great film  loved it", "dont  ever  again", "a b"]


def test_html_is_replaced_before_punctuation_so_words_do_not_glue() -> None:
    with_html = _tokens(["good.<br />Bad"])
    without_html = _tokens(["good.<br />Bad"], strip_html=False)
    assert with_html == [["good", "bad"]]
    # Stripping only punctuation deletes "<", "/", ">" and glues the tag to its neighbour.
    assert without_html == [["goodbr", "bad"]]


def test_angle_brackets_that_are_not_tags_are_only_punctuation() -> None:
    assert _tokens(["1 < 2 and 3 > 2", "x <3 y"]) == [["1", "2", "and", "3", "2"], ["x", "3", "y"]]


def test_standardize_without_html_equals_keras_default_standardize() -> None:
    keras = pytest.importorskip("keras")
    text = "".join(chr(c) for c in range(33, 127)) + " é É ß ü"
    # Keras' own code path (private, but it is exactly what TextVectorization runs): catches a
    # future change of the default punctuation class.
    layer = keras.layers.TextVectorization(split=None)
    keras_out = layer._preprocess(tf.constant([text]))
    ours = preprocessing.standardize(tf.constant([text]), strip_html=False)
    assert _strings(ours) == _strings(keras_out)
    # ASCII-only lowercasing, as TextVectorization: non-ASCII capitals stay.
    assert _strings(ours)[0].endswith(" é É ß ü")
    assert "0123456789abcdefghijklmnopqrstuvwxyz" in _strings(ours)[0]


def test_tokenize_splits_on_any_whitespace_without_empty_tokens() -> None:
    assert _tokens(["  a\tb\n\nc  ", "", "!!!"]) == [["a", "b", "c"], [], []]


def test_to_keras_ids_shifts_vocabulary_and_hashes_oov() -> None:
    tokens = tf.ragged.constant([["the", "zzz", "cat"], ["qqq"]])
    vocab_ids = tf.ragged.constant([[0, -1, 5], [-1]], dtype=tf.int64)
    one_bucket = preprocessing.to_keras_ids(tokens, vocab_ids, num_oov_buckets=1).to_list()
    assert one_bucket == [[2, 1, 7], [1]]
    k = 3
    ids = preprocessing.to_keras_ids(tokens, vocab_ids, num_oov_buckets=k).to_list()
    zzz, qqq = tf.strings.to_hash_bucket_fast(["zzz", "qqq"], k).numpy().tolist()
    assert ids == [[0 + 1 + k, 1 + zzz, 5 + 1 + k], [1 + qqq]]
    assert all(1 <= i <= k for i in (ids[0][1], ids[1][0]))


@pytest.mark.parametrize("max_tokens", [1, 3, 5])
def test_pad_or_truncate_right_pads_with_zero_and_keeps_the_head(max_tokens: int) -> None:
    rows = [[5, 6, 7, 8], [9], []]
    out = preprocessing.pad_or_truncate(tf.ragged.constant(rows, dtype=tf.int64), max_tokens)
    assert out.dtype == tf.int64
    assert out.shape == (3, max_tokens)
    expected = [(row + [0] * max_tokens)[:max_tokens] for row in rows]
    assert out.numpy().tolist() == expected


def test_label_to_id_uses_list_order_for_multiclass_and_minus_one_for_unknown() -> None:
    names = ("sports", "world", "business", "tech")
    given = tf.constant(["tech", "sports", "world", "??", "business"])
    ids = preprocessing.label_to_id(given, names)
    assert ids.dtype == tf.int64
    assert ids.numpy().tolist() == [3, 0, 1, -1, 2]


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("num_oov_buckets", {"num_oov_buckets": 0}),
        ("vocab_size", {"vocab_size": 2}),
        ("vocab_size", {"vocab_size": 4, "num_oov_buckets": 3}),
        ("max_tokens", {"max_tokens": 0}),
        ("frequency_threshold", {"frequency_threshold": 0}),
        ("train_split", {"train_split": ""}),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: expected"):
        TransformTextConfig(**kwargs)


def test_config_defaults() -> None:
    config = TransformTextConfig()
    assert (config.vocab_size, config.max_tokens) == (10000, 128)
    assert (config.frequency_threshold, config.num_oov_buckets) == (1, 1)
    assert TransformTextConfig(vocab_size=3, num_oov_buckets=1).vocab_size == 3


def test_component_module_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from seqline.components.transform.text_component import COMPONENT; "
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'tensorflow_transform', 'keras') "
        "if m in sys.modules]; print(COMPONENT.name, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "transform_text []"
