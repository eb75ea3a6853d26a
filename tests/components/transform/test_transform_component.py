"""The transform component end to end on hand-written gzip TFRecords in tmp_path (FnApiRunner)."""

from __future__ import annotations

import collections
import os
import re
from pathlib import Path

import pytest

from seqline.components.transform.config import TransformTextConfig
from seqline.pipeline.errors import ConfigError, DataError
from tests.components.transform.transform_fixtures import (
    read_transformed,
    run_transform,
    write_examples,
)

tf = pytest.importorskip("tensorflow")
tft = pytest.importorskip("tensorflow_transform")

from seqline.schemas.text import raw_feature_spec  # noqa: E402

LABELS = ["neg", "pos"]
MAX_TOKENS = 6
LONG = "One two three four five six seven eight nine ten, the end."
TRAIN = [
    ("A great film.<br /><br />Great acting!", "pos"),
    ("Great fun, great cast; a film to see.", "pos"),
    ("I loved it. LOVED it!", "pos"),
    (LONG, "pos"),
    ("A bad film.<br />Bad acting, bad plot.", "neg"),
    ("Bad, bad, boring (and long).", "neg"),
    ("I hated it... <i>hated</i>.", "neg"),
    ("!!!", "neg"),
]
EVAL = [("great film", "pos"), ("Bad film, unseen words: zyzzyva!", "neg")]
TEST = [("<p>Great</p> <p>plot</p>", "pos")]
EMPTY: list[tuple[str, str]] = []  # a split with no examples (small corpora, hash splits)


def python_tokens(text: str) -> list[str]:
    """The standardization spelled out with Python's re (independent of the TF code)."""
    text = re.sub(r"[A-Z]+", lambda m: m.group().lower(), text)
    text = re.sub(r"</?[A-Za-z][^<>]*>", " ", text)
    text = re.sub(r'[!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~\']', "", text)
    return text.split()


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("transform")
    examples = write_examples(
        tmp_path / "examples",
        {"train": TRAIN, "eval": EVAL, "test": TEST, "empty": EMPTY},
        LABELS,
    )
    config = TransformTextConfig(vocab_size=100, max_tokens=MAX_TOKENS)
    summary, graph, out = run_transform(tmp_path, examples, config)
    return summary, graph, out


@pytest.mark.slow
def test_summary_and_properties_follow_the_contract(transformed) -> None:
    summary, graph, out = transformed
    distinct = {token for text, _ in TRAIN for token in python_tokens(text)}
    vocab_size = 1 + 1 + len(distinct)  # padding + one OOV bucket + every train token
    counts = {"train": len(TRAIN), "eval": len(EVAL), "test": len(TEST), "empty": 0}
    assert summary == {"vocab_size": vocab_size, "splits": counts}
    assert graph.properties == {
        "kind": "text",
        "vocab_size": vocab_size,
        "max_tokens": MAX_TOKENS,
        "labels": LABELS,
        "num_oov_buckets": 1,
    }
    assert out.properties == {"splits": ["train", "eval", "test", "empty"], "counts": counts}
    assert {split: len(read_transformed(out.uri, split)) for split in counts} == counts


@pytest.mark.slow
def test_transform_graph_is_a_tft_output_with_the_raw_schema(transformed) -> None:
    _, graph, _ = transformed
    for name in ("transform_fn", "transformed_metadata", "metadata"):
        assert os.path.isdir(os.path.join(graph.uri, name)), name
    output = tft.TFTransformOutput(graph.uri)
    assert output.raw_feature_spec() == raw_feature_spec()
    assert output.transformed_feature_spec() == {
        "tokens": tf.io.FixedLenFeature([MAX_TOKENS], tf.int64),
        "label_id": tf.io.FixedLenFeature([], tf.int64),
    }
    vocabulary = [t.decode() for t in output.vocabulary_by_name("tokens")]
    counts = collections.Counter(t for text, _ in TRAIN for t in python_tokens(text))
    # Most frequent first ("bad" 5, "great" 4, ...), equal counts by UTF-8 bytes descending.
    assert vocabulary == sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)
    assert vocabulary[:2] == ["bad", "great"]


@pytest.mark.slow
def test_rows_are_ids_right_padded_truncated_and_labelled(transformed) -> None:
    _, graph, out = transformed
    vocabulary = [t.decode() for t in tft.TFTransformOutput(graph.uri).vocabulary_by_name("tokens")]
    token_id = {token: index + 2 for index, token in enumerate(vocabulary)}  # 0 pad, 1 OOV

    def expected(text: str, label: str) -> tuple[list[int], int]:
        ids = [token_id.get(t, 1) for t in python_tokens(text)][:MAX_TOKENS]
        return ids + [0] * (MAX_TOKENS - len(ids)), LABELS.index(label)

    for split, rows in (("train", TRAIN), ("eval", EVAL), ("test", TEST), ("empty", EMPTY)):
        assert sorted(read_transformed(out.uri, split)) == sorted(expected(*r) for r in rows)
    train_rows = read_transformed(out.uri, "train")
    assert ([0] * MAX_TOKENS, 0) in train_rows  # "!!!": nothing left but padding
    long_ids = [token_id[t] for t in ["one", "two", "three", "four", "five", "six"]]
    assert (long_ids, 1) in train_rows  # truncated to its first MAX_TOKENS tokens
    eval_rows = read_transformed(out.uri, "eval")
    # "unseen", "words", "zyzzyva" never occur in train: the OOV id 1.
    assert ([token_id["bad"], token_id["film"], 1, 1, 1, 0], 0) in eval_rows


@pytest.mark.slow
def test_graph_transforms_raw_text_without_a_label(transformed) -> None:
    _, graph, out = transformed
    output = tft.TFTransformOutput(graph.uri)
    texts = [text for text, _ in EVAL]
    labelled = output.transform_raw_features(
        {"text": tf.constant(texts), "label": tf.constant([label for _, label in EVAL])}
    )
    unlabelled = output.transform_raw_features({"text": tf.constant(texts)})
    assert set(unlabelled) == {"tokens"}
    assert unlabelled["tokens"].numpy().tolist() == labelled["tokens"].numpy().tolist()
    assert sorted(labelled["tokens"].numpy().tolist()) == sorted(
        tokens for tokens, _ in read_transformed(out.uri, "eval")
    )
    assert labelled["label_id"].numpy().tolist() == [1, 0]


@pytest.mark.slow
def test_documented_serving_recipe_saves_and_serves_without_labels(transformed, tmp_path) -> None:
    """The recipe in preprocessing.py's docstring, as the train component will use it."""
    _, graph, _ = transformed
    tft_output = tft.TFTransformOutput(graph.uri)

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tft_layer = tft_output.transform_features_layer()

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False
        )
        def predict_text(self, text):
            return {"tokens": self.tft_layer({"text": text})["tokens"]}

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False
        )
        def serving_default(self, examples):
            raw = tf.io.parse_example(examples, raw_feature_spec(with_label=False))
            return self.predict_text(raw["text"])

    module = Serving()
    export_dir = str(tmp_path / "saved_model")
    tf.saved_model.save(
        module,
        export_dir,
        signatures={
            "serving_default": module.serving_default.get_concrete_function(),
            "predict_text": module.predict_text.get_concrete_function(),
        },
    )
    loaded = tf.saved_model.load(export_dir)
    texts = ["Great film!", "bad <br /> plot"]
    unlabelled = []
    for text in texts:
        feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))}
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        unlabelled.append(example.SerializeToString())
    from_examples = loaded.signatures["serving_default"](examples=tf.constant(unlabelled))
    from_text = loaded.signatures["predict_text"](text=tf.constant(texts))
    expected = tft_output.transform_raw_features({"text": tf.constant(texts)})["tokens"]
    assert from_examples["tokens"].numpy().tolist() == expected.numpy().tolist()
    assert from_text["tokens"].numpy().tolist() == expected.numpy().tolist()


@pytest.mark.slow
def test_unknown_label_fails_with_data_error_naming_split_and_count(tmp_path: Path) -> None:
    labels = ["sports", "world", "tech"]
    examples = write_examples(
        tmp_path / "examples",
        {
            "train": [("goal scored", "sports"), ("chips and code", "tech"), ("vote", "world")],
            "eval": [("match", "sports"), ("weather", "climate"), ("storm", "climate")],
        },
        labels,
    )
    with pytest.raises(DataError, match=r"\{'eval': 2\}.*re-run"):
        run_transform(tmp_path, examples, TransformTextConfig(vocab_size=10, max_tokens=4))


def test_missing_train_split_is_a_config_error(tmp_path: Path) -> None:
    examples = write_examples(tmp_path / "examples", {"eval": [("x", "pos")]}, LABELS)
    with pytest.raises(ConfigError, match=r"train_split: expected one of .*\['eval'\]"):
        run_transform(tmp_path, examples, TransformTextConfig())


def test_fewer_than_two_labels_is_a_data_error(tmp_path: Path) -> None:
    examples = write_examples(tmp_path / "examples", {"train": [("x", "pos")]}, ["pos"])
    with pytest.raises(DataError, match=r"at least 2 distinct label names.*\['pos'\]"):
        run_transform(tmp_path, examples, TransformTextConfig())


@pytest.mark.slow
def test_a_train_split_with_no_token_is_a_data_error(tmp_path: Path) -> None:
    """All punctuation and markup: TFT learns nothing and writes a placeholder entry, so the
    vocabulary looked like one token and a model of padding was trained and blessed."""
    examples = write_examples(
        tmp_path / "examples",
        {"train": [("#@!; !!!", "pos"), ("<br />...", "neg"), ("?!", "pos")]},
        LABELS,
    )
    with pytest.raises(DataError, match="got none: every text there is empty after standard"):
        run_transform(tmp_path, examples, TransformTextConfig(vocab_size=10, max_tokens=4))
