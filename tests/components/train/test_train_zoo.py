"""The text model zoo (issue 11): pooling, spatial dropout, CNN-RNN, the bag-of-n-grams branch,
L2, label smoothing, class weights, pretrained vectors, mixed precision selection.

The masking tests assert what makes each option safe: a text's prediction is the same whatever
padding follows it (training trims padding per batch, serving pads to max_tokens)."""

from __future__ import annotations

import gzip
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqline.components.train.class_weights import resolve_class_weights
from seqline.components.train.config import ModelConfig, TrainTextConfig
from seqline.components.train.cudnn import cudnn_incompatibilities
from seqline.components.train.embeddings import align_vectors, read_vectors
from seqline.components.train.losses import classifier_loss
from seqline.components.train.models import build_text_model, model_inputs, transplant_weights
from seqline.components.train.pooling import masked_pool
from seqline.components.train.precision import apply_precision, choose_precision
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError, DataError

keras = pytest.importorskip("keras")

VOCAB, NGRAM_VOCAB = 40, 60


def padded(rows: list[list[int]], width: int) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype="int64")
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


ROWS = [[5, 9, 3, 7], [2, 8], [11, 4, 6, 12, 13, 14]]


def predict(model, width: int, ngram_width: int | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    names = [t.name for t in model.inputs]
    feed = {}
    if "tokens" in names:
        feed["tokens"] = padded(ROWS, width)
    if "ngrams" in names:
        feed["ngrams"] = padded([[r * 2 for r in row] for row in ROWS], ngram_width or width)
    return np.asarray(model(feed, training=False))


def test_masked_pooling_matches_numpy_and_ignores_padding() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=bool)
    mean = np.asarray(masked_pool(x, mask, "mean"))
    top = np.asarray(masked_pool(x, mask, "max"))
    np.testing.assert_allclose(mean[0], x[0, :3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(top[1], x[1, 0], rtol=1e-6)
    np.testing.assert_array_equal(mean[2], 0.0)  # nothing unmasked: 0, not NaN or -inf
    np.testing.assert_array_equal(top[2], 0.0)
    x[0, 3:] = 1e6  # large values under the mask change nothing
    np.testing.assert_allclose(np.asarray(masked_pool(x, mask, "max"))[0], top[0])


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(layer="gru", units=4, embedding_dim=6, pooling="max"),
        ModelConfig(layer="lstm", units=4, embedding_dim=6, pooling="mean", bidirectional=True),
        ModelConfig(layer="gru", units=4, embedding_dim=6, pooling="attention", num_layers=2),
        ModelConfig(
            layer="gru",
            units=4,
            embedding_dim=6,
            pooling="last",
            spatial_dropout=0.3,
            conv_filters=5,
            conv_kernel_size=3,
            bidirectional=True,
        ),
        ModelConfig(units=3, embedding_dim=4, ngram_branch="beside", ngram_dim=5, pooling="max"),
        ModelConfig(ngram_branch="only", ngram_dim=5),
    ],
    ids=["max", "bi-mean", "stacked-attention", "cnn-rnn-spatial", "rnn+ngrams", "ngrams-only"],
)
def test_outputs_do_not_depend_on_padding_length(config: ModelConfig) -> None:
    model = build_text_model(config, VOCAB, 12, num_classes=3, ngram_vocab_size=NGRAM_VOCAB)
    short = predict(model, 6)
    long = predict(model, 12, ngram_width=20)
    assert short.shape == (3, 3)
    np.testing.assert_allclose(short, long, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(short.sum(axis=1), 1.0, rtol=1e-5)


def test_each_option_builds_the_layers_it_names() -> None:
    config = ModelConfig(
        units=3,
        embedding_dim=4,
        spatial_dropout=0.2,
        conv_filters=4,
        pooling="attention",
        ngram_branch="beside",
        l2=1e-3,
    )
    model = build_text_model(config, VOCAB, 8, 2, ngram_vocab_size=NGRAM_VOCAB)
    names = {layer.name for layer in model.layers}
    assert {"spatial_dropout", "conv", "attention_pool", "ngram_embedding", "features"} <= names
    assert model_inputs(config) == ("tokens", "ngrams")
    assert model_inputs(ModelConfig(ngram_branch="only")) == ("ngrams",)
    predict(model, 8)
    assert len(model.losses) == 3  # L2 on the head, the conv and the recurrent kernel
    plain = build_text_model(ModelConfig(units=3, embedding_dim=4), VOCAB, 8, 2)
    assert {t.name for t in plain.inputs} == {"tokens"} and not plain.losses


def test_saved_zoo_model_loads_in_a_fresh_process_after_importing_pooling(tmp_path: Path) -> None:
    """keras/model.keras of a zoo model loads where nothing built a zoo model first: importing
    pooling.py is enough (it registered the classes only inside zoo_layers(keras) before)."""
    config = ModelConfig(units=3, embedding_dim=4, conv_filters=4, pooling="max",
                         linear_branch="beside")  # fmt: skip
    model = build_text_model(
        config, VOCAB, 8, 2, ngram_vocab_size=NGRAM_VOCAB, ngram_weights="tfidf"
    )
    path = tmp_path / "model.keras"
    model.save(path)
    ngrams = padded(ROWS, 8)
    feed = {"tokens": ngrams, "ngrams": ngrams, "ngram_weights": (ngrams > 0).astype("float32")}
    np.savez(tmp_path / "feed.npz", **feed)
    code = (
        "import sys, numpy as np, keras\n"
        "import seqline.components.train.pooling\n"
        "m = keras.models.load_model(sys.argv[1], compile=False)\n"
        "feed = dict(np.load(sys.argv[2]))\n"
        "np.save(sys.argv[3], np.asarray(m(feed, training=False)))\n"
        "print(sorted({type(l).__name__ for l in m.layers}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "feed.npz"), str(tmp_path / "p")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert {"MaskedConv1D", "MaskedPooling", "NgramLogits"} <= set(
        eval(out.stdout.splitlines()[-1])
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), np.asarray(model(feed, training=False)), rtol=1e-5, atol=1e-6
    )


def test_zoo_options_keep_cudnn_rules() -> None:
    # Pooling, conv, spatial dropout and n-grams touch no recurrent setting cuDNN checks.
    config = ModelConfig(pooling="max", conv_filters=8, spatial_dropout=0.2, ngram_branch="beside")
    assert cudnn_incompatibilities(config) == []


def test_ngram_branch_needs_the_transform_feature() -> None:
    with pytest.raises(ConfigError, match=r"model.ngram_branch: 'beside' needs .*transform.ngrams"):
        build_text_model(ModelConfig(ngram_branch="beside"), VOCAB, 8, 2)


def test_zoo_models_transplant_between_keras_modules() -> None:
    tf_keras = pytest.importorskip("tf_keras")
    config = ModelConfig(units=3, embedding_dim=4, conv_filters=4, pooling="attention",
                         ngram_branch="beside")  # fmt: skip
    source = build_text_model(config, VOCAB, 8, 2, tf_keras, ngram_vocab_size=NGRAM_VOCAB)
    target = build_text_model(config, VOCAB, 8, 2, ngram_vocab_size=NGRAM_VOCAB)
    transplant_weights(source, target)
    feed = {"tokens": padded(ROWS, 8), "ngrams": padded(ROWS, 8)}
    np.testing.assert_allclose(
        np.asarray(source(feed, training=False)), np.asarray(target(feed, training=False)),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_label_smoothing_softmax_loss_matches_the_formula() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    labels = np.array([0, 2])
    loss = classifier_loss(keras, "softmax", 3, 0.3)
    smoothed = np.eye(3)[labels] * 0.7 + 0.1
    expected = -(smoothed * np.log(probabilities)).sum(axis=1).mean()
    assert float(loss(labels, probabilities)) == pytest.approx(expected, rel=1e-5)
    plain = classifier_loss(keras, "softmax", 3, 0.0)
    assert float(plain(labels, probabilities)) == pytest.approx(-np.log([0.7, 0.8]).mean(), 1e-5)


def test_class_weights() -> None:
    labels = ("neg", "pos", "mixed")
    assert resolve_class_weights({}, labels) is None
    assert resolve_class_weights({"pos": 2.0}, labels) == {0: 1.0, 1: 2.0, 2: 1.0}
    balanced = resolve_class_weights({"balanced": 1}, labels, [60, 30, 10])
    assert balanced == pytest.approx({0: 100 / 180, 1: 100 / 90, 2: 100 / 30})
    with pytest.raises(ConfigError, match=r"class_weights: expected label names .*\['nuetral'\]"):
        resolve_class_weights({"nuetral": 2.0}, labels)
    with pytest.raises(DataError, match=r"no examples of \['mixed'\]"):
        resolve_class_weights({"balanced": 1}, labels, [5, 5, 0])
    with pytest.raises(ConfigError, match="either {balanced: 1} or label -> weight"):
        ModelConfig(class_weights={"balanced": 1, "pos": 2})


def test_config_from_yaml_shape_and_bad_values() -> None:
    config = build_dataclass(
        TrainTextConfig,
        {"model": {"pooling": "max", "ngram_branch": "beside", "mixed_precision": True,
                   "pretrained": {"path": "v.txt", "trainable": True}}},
        "train",
    )  # fmt: skip
    assert config.model.pretrained is not None and config.model.pretrained.trainable
    for bad, field in (
        ({"pooling": "min"}, "pooling"),
        ({"spatial_dropout": 1.0}, "spatial_dropout"),
        ({"ngram_branch": "off"}, "ngram_branch"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"l2": -1.0}, "l2"),
        ({"class_weights": {"pos": 0}}, "class_weights.pos"),
    ):
        with pytest.raises(ConfigError, match=field):
            ModelConfig(**bad)


def write_vectors(path: Path, header: bool = True) -> Path:
    lines = ["good 1 0 0", "Bad 0 1 0", "film 0 0 1", "good 9 9 9"]
    text = ("4 3\n" if header else "") + "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["vectors.txt", "vectors.txt.gz"])
def test_pretrained_vectors_align_to_the_transform_ids(tmp_path: Path, name: str) -> None:
    vectors, dim = read_vectors(str(write_vectors(tmp_path / name)), {"good", "bad", "plot"})
    assert dim == 3 and set(vectors) == {"good", "bad"}  # lowercased; first "good" wins
    aligned = align_vectors(["plot", "good", "bad"], vectors, dim, num_oov_buckets=2)
    assert aligned.matrix.shape == (6, 3) and (aligned.found, aligned.vocabulary) == (2, 3)
    np.testing.assert_array_equal(aligned.matrix[0], 0.0)  # padding
    np.testing.assert_array_equal(aligned.matrix[4], [1, 0, 0])  # id 1 + k + index("good")
    np.testing.assert_array_equal(aligned.matrix[5], [0, 1, 0])
    assert np.abs(aligned.matrix[3]).max() <= 0.05  # "plot": not in the file, small random


def test_pretrained_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("good 1 0 0\nbad 1 0\n")
    with pytest.raises(DataError, match="line 2: expected a word and 3 numbers, got 2"):
        read_vectors(str(bad), {"good"})
    with pytest.raises(ConfigError, match="does not exist"):
        read_vectors(str(tmp_path / "missing.txt"), {"good"})


@pytest.mark.parametrize("trainable", [False, True])
def test_pretrained_embedding_is_loaded_frozen_or_trainable(trainable: bool) -> None:
    matrix = np.random.default_rng(1).normal(size=(VOCAB, 3)).astype("float32")
    config = ModelConfig(units=2, embedding_dim=3, pretrained={"path": "v", "trainable": trainable})
    model = build_text_model(config, VOCAB, 8, 2, embedding_matrix=matrix)
    embedding = model.get_layer("embedding")
    np.testing.assert_array_equal(np.asarray(embedding.embeddings), matrix)
    assert embedding.trainable is trainable
    with pytest.raises(ConfigError, match=r"set model.embedding_dim"):
        build_text_model(ModelConfig(embedding_dim=5), VOCAB, 8, 2, embedding_matrix=matrix)


def test_mixed_precision_is_off_on_cpu_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    assert choose_precision(True, num_gpus=2).policy == "mixed_float16"
    assert choose_precision(False, num_gpus=2).policy == "float32"
    with caplog.at_level(logging.INFO, logger="seqline.components.train.precision"):
        choice = apply_precision(keras, requested=True, num_gpus=0)
    assert choice.policy == "float32" and keras.mixed_precision.global_policy().name == "float32"
    assert "no GPU" in caplog.text and "float32" in caplog.text
