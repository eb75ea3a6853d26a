"""TFT token ids agree with keras.layers.TextVectorization on the same corpus and vocabulary size.

AnalyzeAndTransformSplits (TFT on Beam, FnApiRunner) runs in one TestPipeline over hand-written
gzip TFRecords for three corpora, and every transformed row is compared with what Keras 3 computes
for the same text after adapting on the same train split. Every document gets its own label name,
so its label_id identifies it in the (unordered) Beam output and the comparison is per document
(this also checks multi-class label ids: as many classes as documents).

Tie-breaking: TFT keeps (count, token) pairs largest first and Keras sorts by count then token
and reverses; both order tokens of equal count by UTF-8 bytes descending and, when the vocabulary
size cuts a group of equal counts, both keep the bytes-largest tokens of that group. The tie
corpus asserts exact equality of ids and vocabularies, and checks that rule on the vocabulary.
"""

from __future__ import annotations

import glob
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components.transform.transform_fixtures import write_examples

tf = pytest.importorskip("tensorflow")
beam = pytest.importorskip("apache_beam")
tft = pytest.importorskip("tensorflow_transform")
tft_beam = pytest.importorskip("tensorflow_transform.beam")
keras = pytest.importorskip("keras")

from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402

from seqline.components.transform.beam_pipeline import (  # noqa: E402
    AnalyzeAndTransformSplits,
    split_pattern,
    tft_context,
)
from seqline.components.transform.config import TransformTextConfig  # noqa: E402
from seqline.components.transform.preprocessing import (  # noqa: E402
    VOCAB_NAME,
    make_preprocessing_fn,
)
from seqline.pipeline.beam_options import make_pipeline_options  # noqa: E402

pytestmark = pytest.mark.slow

KERAS_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


def keras_html_standardize(text):
    """A TextVectorization standardize callable doing lower -> HTML tags -> punctuation."""
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"</?[A-Za-z][^<>]*>", " ")
    return tf.strings.regex_replace(text, KERAS_PUNCTUATION, "")


def decorate(word: str, rng: random.Random) -> str:
    """The same token as a user might type it: capitals and punctuation around it.

    Non-ASCII words keep their case: lowercasing is ASCII-only (as in Keras), so "Über" and
    "über" are different tokens and would spoil the planned counts.
    """
    variants = [word, f"{word},", f"({word})", f"{word}!"]
    if word.isascii():
        variants += [word.upper(), word.capitalize()]
    return rng.choice(variants)


def make_docs(counts: dict[str, int], seed: int, html: bool = False) -> list[str]:
    """Documents holding each word exactly counts[word] times, in 1..14-token docs."""
    rng = random.Random(seed)
    words = [w for w, n in counts.items() for _ in range(n)]
    rng.shuffle(words)
    docs: list[str] = []
    while words:
        size = rng.randint(1, 14)
        chunk, words = words[:size], words[size:]
        separator = " <br /> " if html and rng.random() < 0.5 else "  "
        docs.append(separator.join(decorate(w, rng) for w in chunk))
    return docs


@dataclass(frozen=True)
class Case:
    """One corpus: train/eval documents and the transform config to run on them."""

    train: tuple[str, ...]
    other: tuple[str, ...]
    config: TransformTextConfig


@dataclass(frozen=True)
class TftResult:
    """What TFT produced for a Case: {split: [(doc index, ids)]} and the vocabulary."""

    rows: dict[str, list[tuple[int, list[int]]]]
    vocabulary: list[str]


def run_tft(tmp_path: Path, cases: dict[str, Case]) -> dict[str, TftResult]:
    """Runs AnalyzeAndTransformSplits for every case in ONE TestPipeline (one Beam start-up).

    Every document's label is "doc{i}" (train first, then eval), so label_id == i.
    """
    inputs = {}
    for name, case in cases.items():
        docs = list(case.train) + list(case.other)
        labels = [f"doc{i}" for i in range(len(docs))]
        examples = write_examples(
            tmp_path / name / "examples",
            {
                "train": list(zip(case.train, labels[: len(case.train)], strict=True)),
                "eval": list(zip(case.other, labels[len(case.train) :], strict=True)),
            },
            labels,
        )
        patterns = {split: split_pattern(examples.uri, split) for split in ("train", "eval")}
        inputs[name] = (patterns, make_preprocessing_fn(case.config, labels))

    with BeamTestPipeline(options=make_pipeline_options()) as pipeline:
        for name, (patterns, preprocessing_fn) in inputs.items():
            with tft_context(str(tmp_path / name / "tft_tmp")):
                transform_fn, batches = pipeline | f"TFT[{name}]" >> AnalyzeAndTransformSplits(
                    patterns, "train", preprocessing_fn
                )
                _ = transform_fn | f"WriteFn[{name}]" >> tft_beam.WriteTransformFn(
                    str(tmp_path / name / "graph")
                )
            for split, data in batches.items():
                _ = (
                    data
                    | f"Rows[{name}/{split}]"
                    >> beam.FlatMap(
                        lambda batch: [
                            json.dumps([r["label_id"][0], r["tokens"]]) for r in batch.to_pylist()
                        ]
                    )
                    | f"Save[{name}/{split}]"
                    >> beam.io.WriteToText(str(tmp_path / name / f"rows-{split}"))
                )

    results = {}
    for name in cases:
        rows = {}
        for split in ("train", "eval"):
            lines = []
            for path in sorted(glob.glob(str(tmp_path / name / f"rows-{split}*"))):
                lines += Path(path).read_text().splitlines()
            rows[split] = sorted(tuple(json.loads(line)) for line in lines)
        vocabulary = tft.TFTransformOutput(str(tmp_path / name / "graph")).vocabulary_by_name(
            VOCAB_NAME
        )
        results[name] = TftResult(rows, [token.decode() for token in vocabulary])
    return results


def keras_expected(
    case: Case, ids_of: Callable[[list[str]], list[list[int]]]
) -> dict[str, list[tuple[int, list[int]]]]:
    """{split: sorted [(doc index, Keras ids)]}, doc indices numbered train first, then eval."""
    train_ids, other_ids = ids_of(list(case.train)), ids_of(list(case.other))
    return {
        "train": sorted(enumerate(train_ids)),
        "eval": sorted((len(case.train) + i, ids) for i, ids in enumerate(other_ids)),
    }


# 14 words with pairwise different counts; the vocabulary keeps the top 10 (V=12, k=1).
NO_TIE_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
NO_TIE_WORDS += ["hotel", "india", "juliet", "kilo", "lima", "mike", "november"]
NO_TIES = Case(
    train=tuple(make_docs({w: 22 - i for i, w in enumerate(NO_TIE_WORDS)}, seed=1)),
    other=("Alpha, KILO and oscar!", "", "november november papa alpha bravo charlie delta echo"),
    config=TransformTextConfig(vocab_size=12, max_tokens=8),
)
# Groups of equal counts; the cut (V=9, k=1 -> 7 tokens) falls inside the count-3 group, and
# non-ASCII tokens test byte order ("über" > "zulu" as UTF-8 bytes).
TIE_COUNTS = {"zulu": 5, "über": 5, "able": 5, "mango": 4, "kiwi": 4}
TIE_COUNTS |= {"fig": 3, "date": 3, "cherry": 3, "banana": 3, "apple": 3, "élan": 1, "yak": 1}
TIES = Case(
    train=tuple(make_docs(TIE_COUNTS, seed=2, html=True)),
    other=("Fig<br/>and DATE<p>über alles</p>", "apple banana cherry"),
    config=TransformTextConfig(vocab_size=9, max_tokens=6),
)
# k=3 OOV buckets and frequency_threshold=2: vocab_size=30 leaves room for all 14 train tokens,
# but only the 6 colours are seen at least twice; the count-1 numbers and unseen eval words are
# OOV, spread over the 3 buckets.
OOV_COUNTS = {w: 12 - i for i, w in enumerate(["red", "green", "blue", "cyan", "pink", "gray"])}
OOV_COUNTS |= {w: 1 for w in ["one", "two", "three", "four", "five", "six", "seven", "eight"]}
OOV = Case(
    train=tuple(make_docs(OOV_COUNTS, seed=3)),
    other=("red ochre umber sienna teal navy green", "plum"),
    config=TransformTextConfig(
        vocab_size=30, max_tokens=7, num_oov_buckets=3, frequency_threshold=2
    ),
)


@pytest.fixture(scope="module")
def tft_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TftResult]:
    return run_tft(
        tmp_path_factory.mktemp("agreement"), {"no_ties": NO_TIES, "ties": TIES, "oov": OOV}
    )


def test_ids_equal_text_vectorization_on_a_corpus_without_ties(tft_results) -> None:
    layer = keras.layers.TextVectorization(max_tokens=12, output_sequence_length=8)
    layer.adapt(list(NO_TIES.train))
    expected = keras_expected(NO_TIES, lambda docs: layer(docs).numpy().tolist())
    # Padding and truncation both occur, and OOV tokens reach id 1.
    all_rows = [ids for rows in expected.values() for _, ids in rows]
    assert any(0 in ids for ids in all_rows) and any(0 not in ids for ids in all_rows)
    assert any(1 in ids for ids in all_rows)

    result = tft_results["no_ties"]
    assert result.rows == expected
    assert result.vocabulary == layer.get_vocabulary()[2:] == NO_TIE_WORDS[:10]


def test_ids_equal_text_vectorization_with_ties_and_html(tft_results) -> None:
    layer = keras.layers.TextVectorization(
        max_tokens=9, output_sequence_length=6, standardize=keras_html_standardize
    )
    layer.adapt(list(TIES.train))
    expected = keras_expected(TIES, lambda docs: layer(docs).numpy().tolist())

    result = tft_results["ties"]
    assert result.rows == expected
    assert result.vocabulary == layer.get_vocabulary()[2:]
    # The rule both follow: count descending, then UTF-8 bytes descending; the cut keeps the
    # bytes-largest tokens of the count-3 group ("fig", "date"; not "cherry", ...).
    ranked = sorted(TIE_COUNTS, key=lambda w: (TIE_COUNTS[w], w.encode()), reverse=True)
    assert result.vocabulary == ranked[:7]
    assert ranked[:7] == ["über", "zulu", "able", "mango", "kiwi", "fig", "date"]


def test_oov_buckets_and_frequency_threshold_equal_string_lookup(tft_results) -> None:
    # TextVectorization has a single OOV id; with k > 1 it would use StringLookup's hashing,
    # which is what this compares with. Keras has no frequency threshold: its learner is sized
    # to the 6 tokens seen at least twice (padding and its one OOV id make 8).
    k, config = OOV.config.num_oov_buckets, OOV.config
    frequent = [w for w, n in OOV_COUNTS.items() if n >= config.frequency_threshold]
    assert len(frequent) == 6 < config.vocab_size - 1 - k
    learner = keras.layers.TextVectorization(max_tokens=len(frequent) + 2)
    learner.adapt(list(OOV.train))
    learned = learner.get_vocabulary()[2:]
    lookup = keras.layers.StringLookup(vocabulary=learned, num_oov_indices=k, mask_token="")

    def ids_of(docs: list[str]) -> list[list[int]]:
        tokens = learner._preprocess(tf.constant(docs))  # Keras' standardize + split
        ids = lookup(tokens).to_tensor(default_value=0, shape=[None, config.max_tokens])
        return ids.numpy().tolist()

    expected = keras_expected(OOV, ids_of)
    oov_ids = {i for rows in expected.values() for _, ids in rows for i in ids if 1 <= i <= k}
    assert len(oov_ids) >= 2, "the corpus should spread OOV tokens over several buckets"
    result = tft_results["oov"]
    assert result.rows == expected
    assert result.vocabulary == learned == frequent
