"""The bag-of-n-grams feature and truncation side (issue 11): built by TFT inside the graph, so
the exported SavedModel computes them from raw text."""

from __future__ import annotations

import glob
import re

import numpy as np
import pytest

from seqline.components.transform.config import TransformTextConfig as TransformConfig
from seqline.components.transform.text_features import NgramConfig
from seqline.pipeline.errors import ConfigError
from tests.components.transform.transform_fixtures import (
    TINY_EVAL,
    TINY_LABELS,
    TINY_TRAIN,
    run_transform,
    write_examples,
)

tf = pytest.importorskip("tensorflow")
tft = pytest.importorskip("tensorflow_transform")
preprocessing = pytest.importorskip("seqline.components.transform.preprocessing")

LABELS, TRAIN, EVAL = TINY_LABELS, TINY_TRAIN, TINY_EVAL
MAX_TOKENS, MAX_NGRAMS = 4, 6


def test_pad_or_truncate_keeps_the_start_or_the_end() -> None:
    ids = tf.ragged.constant([[1, 2, 3, 4, 5], [6, 7]], dtype=tf.int64)
    start = preprocessing.pad_or_truncate(ids, 3)
    end = preprocessing.pad_or_truncate(ids, 3, "keep_end")
    assert start.numpy().tolist() == [[1, 2, 3], [6, 7, 0]]
    assert end.numpy().tolist() == [[3, 4, 5], [6, 7, 0]]  # still right-padded


def test_ngrams_of_lists_unigrams_then_bigrams() -> None:
    grams = preprocessing.ngrams_of(tf.ragged.constant([["a", "b", "c"], ["d"]]), 2)
    assert [[g.decode() for g in row] for row in grams.to_list()] == [
        ["a", "b", "c", "a b", "b c"],
        ["d"],
    ]


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match=r"^truncation: expected one of"):
        TransformConfig(truncation="middle")
    with pytest.raises(ConfigError, match=r"^ngrams.vocab_size: expected an integer >= 2"):
        NgramConfig(orders=2, vocab_size=1)
    assert not TransformConfig().ngrams.enabled and TransformConfig().truncation == "keep_start"


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", "", text.lower()).split()


def _read(uri: str, split: str) -> list[dict[str, list[int]]]:
    files = sorted(glob.glob(f"{uri}/{split}/data-*-of-*.tfrecord.gz"))
    rows = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(raw).features.feature
        rows.append({k: list(v.int64_list.value) for k, v in feature.items()})
    return rows


@pytest.mark.slow
def test_transform_writes_ngram_ids_and_keeps_the_end(tmp_path) -> None:
    examples = write_examples(tmp_path / "examples", {"train": TRAIN, "eval": EVAL}, LABELS)
    config = TransformConfig(
        vocab_size=50,
        max_tokens=MAX_TOKENS,
        truncation="keep_end",
        ngrams=NgramConfig(orders=2, vocab_size=100, frequency_threshold=2, max_ngrams=MAX_NGRAMS),
    )
    _, graph, out = run_transform(tmp_path, examples, config)
    output = tft.TFTransformOutput(graph.uri)
    vocab = [g.decode() for g in output.vocabulary_by_name("ngrams")]
    # frequency_threshold 2 on train: "great film" and "bad plot" twice, "film to" once.
    assert {"great film", "bad plot", "great", "bad"} <= set(vocab) and "film to" not in vocab
    assert graph.properties["ngram_vocab_size"] == len(vocab) + 1
    assert graph.properties["max_ngrams"] == MAX_NGRAMS
    ngram_id = {g: i + 1 for i, g in enumerate(vocab)}
    token_id = {t.decode(): i + 2 for i, t in enumerate(output.vocabulary_by_name("tokens"))}

    def expected(text: str) -> dict[str, list[int]]:
        words = _words(text)
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        known = [ngram_id[g] for g in grams if g in ngram_id][-MAX_NGRAMS:]  # keep_end
        tokens = [token_id.get(w, 1) for w in words][-MAX_TOKENS:]
        return {
            "ngrams": known + [0] * (MAX_NGRAMS - len(known)),
            "tokens": tokens + [0] * (MAX_TOKENS - len(tokens)),
        }

    for split, rows in (("train", TRAIN), ("eval", EVAL)):
        got = sorted((r["tokens"], r["ngrams"]) for r in _read(out.uri, split))
        want = sorted((expected(t)["tokens"], expected(t)["ngrams"]) for t, _ in rows)
        assert got == want
    # Serving: raw text alone yields both features, as the SavedModel will compute them.
    served = output.transform_raw_features({"text": tf.constant([EVAL[0][0]])})
    assert set(served) == {"tokens", "ngrams"}
    assert served["ngrams"].numpy().tolist() == [expected(EVAL[0][0])["ngrams"]]


def test_distinct_per_row_counts_in_first_occurrence_order() -> None:
    ids = tf.ragged.constant([[5, 3, 5], [], [3], [0, 0]], dtype=tf.int64)
    distinct, counts = preprocessing.distinct_per_row(ids)
    assert distinct.to_list() == [[5, 3], [], [3], [0]]
    assert counts.to_list() == [[2, 1], [], [1], [2]]


def test_tfidf_weights_are_sublinear_and_unit_norm() -> None:
    counts = tf.ragged.constant([[2, 1], [], [4]], dtype=tf.int64)
    idf = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
    got = preprocessing.tfidf_weights(counts, idf).to_list()
    raw = [1.0 + np.log(2.0), 2.0]
    norm = float(np.hypot(*raw))
    np.testing.assert_allclose(got[0], [raw[0] / norm, raw[1] / norm], rtol=1e-6)
    assert got[1] == [] and got[2] == pytest.approx([1.0])
    # The whole transform's weights are checked against scikit-learn on the train tests'
    # corpus (tests/components/train/test_train_linear.py), whose graph emits them anyway.


def test_log_count_ratio_matches_numpy_and_skips_unseen_ids() -> None:
    positive = np.array([3.0, 0.0, 1.0, 0.0, 5.0])
    negative = np.array([1.0, 2.0, 1.0, 0.0, 0.0])  # id 3: in neither class (empty slot)
    got = preprocessing.log_count_ratio(tf.constant(positive), tf.constant(negative)).numpy()
    seen = np.array([True, True, True, False, True])
    p, q = 1.0 + positive[seen], 1.0 + negative[seen]
    np.testing.assert_allclose(got[seen], np.log((p / p.sum()) / (q / q.sum())), rtol=1e-6)
    assert got[3] == 0.0 and got[0] > 0 > got[1]


def test_nb_weights_need_binary_labels() -> None:
    config = TransformConfig(ngrams=NgramConfig(orders=2, weights="nb"))
    preprocessing.make_preprocessing_fn(config, ["neg", "pos"])  # binary: accepted
    with pytest.raises(ConfigError, match=r"'nb' expected binary labels, got 3 .*use ngrams"):
        preprocessing.make_preprocessing_fn(config, ["a", "b", "c"])
