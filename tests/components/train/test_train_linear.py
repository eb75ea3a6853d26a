"""The TF-IDF linear n-gram branch (issue 11): a logistic regression inside the model, alone
("only") or with its logits added to the deep part's ("beside", wide & deep)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.config import EarlyStoppingConfig, ModelConfig, TrainTextConfig
from seqline.components.train.models import build_text_model, model_inputs
from seqline.pipeline.errors import ConfigError

from .conftest import TextArtifacts, make_corpus, train_context

keras = pytest.importorskip("keras")

VOCAB, NGRAM_VOCAB, CLASSES = 40, 60, 3
IDS = [[5, 9, 3, 7], [2, 8], [11, 4, 6, 12, 13, 14]]


def feed(model, width: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The three features, right-padded to `width` (weights 0 on padding)."""
    ids = np.zeros((len(IDS), width), dtype="int64")
    weights = np.zeros((len(IDS), width), dtype="float32")
    for i, row in enumerate(IDS):
        ids[i, : len(row)] = row
        weights[i, : len(row)] = np.linspace(0.2, 0.9, len(row))
    features = {"tokens": ids, "ngrams": ids, "ngram_weights": weights}
    return {t.name: features[t.name] for t in model.inputs}


def test_linear_only_is_a_weighted_sum_of_its_rows() -> None:
    config = ModelConfig(linear_branch="only")
    model = build_text_model(config, VOCAB, 8, CLASSES, ngram_vocab_size=NGRAM_VOCAB,
                             ngram_weights="tfidf")  # fmt: skip
    assert model_inputs(config) == ("ngrams", "ngram_weights")
    assert {layer.name for layer in model.layers} == {"ngrams", "ngram_weights", "linear",
                                                      "probabilities"}  # fmt: skip
    # Zero-initialised: every class equally likely before training.
    np.testing.assert_allclose(np.asarray(model(feed(model, 6))), 1 / CLASSES, rtol=1e-6)
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(NGRAM_VOCAB, CLASSES)).astype("float32")
    bias = rng.normal(size=CLASSES).astype("float32")
    model.get_layer("linear").set_weights([kernel, bias])
    inputs = feed(model, 6)
    logits = (inputs["ngram_weights"][..., None] * kernel[inputs["ngrams"]]).sum(1) + bias
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(model(inputs)), expected, rtol=1e-5)
    # Padding (id 0, weight 0) changes nothing, even where kernel row 0 is not zero.
    np.testing.assert_allclose(np.asarray(model(feed(model, 11))), expected, rtol=1e-5)


@pytest.mark.parametrize("deep", ["rnn", "ngrams"])
def test_beside_starts_as_the_linear_model(deep: str) -> None:
    config = ModelConfig(units=4, embedding_dim=6, linear_branch="beside",
                         ngram_branch="only" if deep == "ngrams" else "none")  # fmt: skip
    model = build_text_model(config, VOCAB, 8, 2, ngram_vocab_size=NGRAM_VOCAB,
                             ngram_weights="tfidf")  # fmt: skip
    linear = model.get_layer("linear")
    linear.set_weights([np.full((NGRAM_VOCAB, 1), 0.5, "float32"), np.array([0.1], "float32")])
    inputs = feed(model, 8)
    logits = 0.5 * inputs["ngram_weights"].sum(1) + 0.1
    # The head's kernel starts at zero, so the deep part adds nothing yet: sigmoid of the
    # linear logits alone.
    p = np.asarray(model(inputs, training=False))[:, 0]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    assert model.get_layer("logits") is not None


def test_linear_branch_needs_the_tfidf_weights_and_valid_config() -> None:
    with pytest.raises(ConfigError, match=r"model.linear_branch: 'only' needs the transform's"):
        build_text_model(ModelConfig(linear_branch="only"), VOCAB, 8, 2)
    with pytest.raises(ConfigError, match=r"TF-IDF \(or NB\).*set transform.ngrams.weights: tfidf"):
        build_text_model(ModelConfig(linear_branch="beside"), VOCAB, 8, 2,
                         ngram_vocab_size=NGRAM_VOCAB)  # fmt: skip
    with pytest.raises(ConfigError, match=r"^linear_branch: expected one of"):
        ModelConfig(linear_branch="wide")
    with pytest.raises(ConfigError, match=r"^ngram_branch: expected 'none' with linear_branch"):
        ModelConfig(linear_branch="only", ngram_branch="beside")
    with pytest.raises(ConfigError, match=r"^linear_l2: expected a number >= 0"):
        ModelConfig(linear_l2=-1.0)


def _grams(text: str) -> list[str]:
    """The transform's standardization and 1-2-grams, written independently in Python."""
    text = re.sub(r"</?[a-z][^<>]*>", " ", text.lower())
    words = re.sub(r"[^a-z0-9\s]", "", text).split()
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


@pytest.mark.slow
def test_transform_tfidf_weights_match_scikit_learn(text_artifacts: TextArtifacts) -> None:
    """The graph's "ngram_weights" are TfidfVectorizer(sublinear_tf=True)'s values, idf from the
    train split, over the same n-gram vocabulary (the shared fixture's transform)."""
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    import tensorflow as tf
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(text_artifacts.transform_graph.uri)
    vocab = [g.decode() for g in output.vocabulary_by_name("ngrams")]
    vectorizer = sklearn_text.TfidfVectorizer(analyzer=_grams, sublinear_tf=True, vocabulary=vocab)
    vectorizer.fit([text for text, _ in make_corpus(64, seed=1)])  # the fixture's train split
    texts = list(text_artifacts.raw_eval_texts)
    served = output.transform_raw_features({"text": tf.constant(texts)})
    expected = vectorizer.transform(texts).toarray()
    max_ngrams = served["ngrams"].shape[1]
    pairs = zip(served["ngrams"].numpy(), served["ngram_weights"].numpy(), strict=True)
    truncated = 0
    for text, row, (ids, weights) in zip(texts, expected, pairs, strict=True):
        kept = ids > 0
        assert not weights[~kept].any()  # padding weighs 0
        known = list(dict.fromkeys(g for g in _grams(text) if g in vocab))  # distinct, in order
        assert [vocab[i - 1] for i in ids[kept]] == known[:max_ngrams]
        # Normalised over all the text's known n-grams, then cut to max_ngrams.
        np.testing.assert_allclose(weights[kept], row[ids[kept] - 1], rtol=1e-5, atol=1e-6)
        truncated += len(known) > max_ngrams
    assert truncated < len(texts)  # most texts are compared whole


@pytest.mark.slow
def test_transform_nb_weights_match_numpy(nb_text_artifacts: TextArtifacts) -> None:
    """ngrams.weights "nb": the TF-IDF row times each n-gram's log-count ratio, computed here
    with numpy from the train split's per-class document frequencies, L2-normalised again."""
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    import tensorflow as tf
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(nb_text_artifacts.transform_graph.uri)
    vocab = [g.decode() for g in output.vocabulary_by_name("ngrams")]
    train = make_corpus(64, seed=1)  # the fixture's train split
    tfidf = sklearn_text.TfidfVectorizer(analyzer=_grams, sublinear_tf=True, vocabulary=vocab)
    tfidf.fit([text for text, _ in train])
    binary = sklearn_text.CountVectorizer(analyzer=_grams, binary=True, vocabulary=vocab)
    present = binary.transform([text for text, _ in train]).toarray()
    is_pos = np.array([label == "pos" for _, label in train])  # label id 1: the second label
    p = 1.0 + present[is_pos].sum(0)
    q = 1.0 + present[~is_pos].sum(0)
    r = np.log((p / p.sum()) / (q / q.sum()))
    assert (r > 0).any() and (r < 0).any()
    texts = list(nb_text_artifacts.raw_eval_texts)
    expected = tfidf.transform(texts).toarray() * r
    expected /= np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
    served = output.transform_raw_features({"text": tf.constant(texts)})
    pairs = zip(served["ngrams"].numpy(), served["ngram_weights"].numpy(), strict=True)
    for row, (ids, weights) in zip(expected, pairs, strict=True):
        kept = ids > 0
        assert not weights[~kept].any()  # padding weighs 0
        np.testing.assert_allclose(weights[kept], row[ids[kept] - 1], rtol=1e-4, atol=1e-6)
    # A positive word leans to "pos" (label id 1), a negative one to "neg".
    assert r[vocab.index("great")] > 0 > r[vocab.index("awful")]


@pytest.mark.slow
@pytest.mark.parametrize("artifacts", ["text_artifacts", "nb_text_artifacts"])
def test_linear_model_trains_and_serves_raw_text(
    artifacts: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import tensorflow as tf
    import tensorflow_transform as tft

    from seqline.components.train.text_component import COMPONENT

    config = TrainTextConfig(
        model=ModelConfig(linear_branch="only", linear_l2=1e-6),
        epochs=3,
        batch_size=16,
        learning_rate=0.1,
        early_stopping=EarlyStoppingConfig(patience=5),
    )
    text_artifacts: TextArtifacts = request.getfixturevalue(artifacts)
    ctx = train_context(config, text_artifacts, tmp_path / "root")
    COMPONENT.executor(ctx)
    model_dir = Path(ctx.outputs["model"].uri)
    model = keras.models.load_model(model_dir / "keras" / "model.keras")
    assert {t.name for t in model.inputs} == {"ngrams", "ngram_weights"}
    texts = list(text_artifacts.raw_eval_texts)
    features = tft.TFTransformOutput(text_artifacts.transform_graph.uri).transform_raw_features(
        {"text": tf.constant(texts)}
    )
    p = np.asarray(model({k: features[k] for k in ("ngrams", "ngram_weights")}))[:, 0]
    served = tf.saved_model.load(str(model_dir / "saved_model")).signatures["predict_text"](
        text=tf.constant(texts)
    )
    np.testing.assert_allclose(served["probabilities"].numpy(), np.stack([1 - p, p], 1),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    # It learned the corpus (two well-separated classes), from raw text in the SavedModel.
    labels = ctx.outputs["model"].properties["labels"]
    accuracy = ctx.outputs["model"].properties["best_metrics"]["accuracy"]
    assert len(labels) == 2 and accuracy > 0.9


def test_tf_keras_builds_the_same_wide_and_deep_model() -> None:
    """Multi-worker training builds it with tf_keras and transplants the weights (strategy.py)."""
    tf_keras = pytest.importorskip("tf_keras")
    from seqline.components.train.models import transplant_weights

    config = ModelConfig(units=3, embedding_dim=4, layer="gru", linear_branch="beside")
    source = build_text_model(config, VOCAB, 8, CLASSES, tf_keras, ngram_vocab_size=NGRAM_VOCAB,
                              ngram_weights="tfidf")  # fmt: skip
    target = build_text_model(config, VOCAB, 8, CLASSES, ngram_vocab_size=NGRAM_VOCAB,
                              ngram_weights="tfidf")  # fmt: skip
    rng = np.random.default_rng(1)
    source.set_weights([rng.normal(size=w.shape).astype("float32") for w in source.get_weights()])
    transplant_weights(source, target)
    inputs = feed(target, 8)
    np.testing.assert_allclose(np.asarray(target(inputs)), source(inputs).numpy(), rtol=1e-5)
