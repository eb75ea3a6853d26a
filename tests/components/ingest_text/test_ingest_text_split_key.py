"""The hash split keys on the text as the model reads it: texts that transform's standardize()
makes identical (case, punctuation, HTML tags, spacing) always share a split, and the Examples
record what decided the split (`split_definition`)."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import pytest

from seqline.components.ingest_text import records as rec
from seqline.components.ingest_text.component import COMPONENT
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.records import Record, RecordRules
from seqline.schemas.text import standardized_text, standardized_tokens

from .conftest import read_examples, run_component

LABELS = ("neg", "pos")

TRICKY = [
    "This movie was GREAT, I loved it!",
    "good.<br />Bad",
    "<p\nclass='x'>hi</p> there",
    "a<b>c",
    "a < b > c",
    "don't stop-me now!!",
    "É ÀBC Straße İ ǅ Ω ＡＢ",
    "a\u00a0b\x1cc\u2003d\x85e\u3000f",
    "a\tb\nc\vd\fe\rf   g",
    "x\u200by",
    "!!! ... ???",
    "   ",
    "1,000 [brackets] {braces} back\\slash `tick` ~tilde~ ^caret^ _under_ |pipe|",
    "<br/><BR /><Br>",
    "mixed <b>bold</b> and </i> stray > signs <",
]


def test_standardized_tokens_are_the_transform_graphs_tokens() -> None:
    """The pure-Python standardization must split texts exactly as the TFT graph does, or
    ingest would group texts the model can tell apart (or not group ones it cannot)."""
    import tensorflow as tf

    from seqline.components.transform.preprocessing import tokenize

    graph = tokenize(tf.constant(TRICKY)).to_list()
    for text, tokens in zip(TRICKY, graph, strict=True):
        assert standardized_tokens(text) == [t.decode() for t in tokens], text
    without_html = tokenize(tf.constant(TRICKY), strip_html=False).to_list()
    for text, tokens in zip(TRICKY, without_html, strict=True):
        assert standardized_tokens(text, strip_html=False) == [t.decode() for t in tokens], text


def _split(rules: RecordRules, text: str, **values: object) -> str:
    out = rec.make_record(
        rules, text=text, label="pos", source="f.csv", position=1, raw=text, **values
    )
    assert isinstance(out, Record), out
    return out.split


def _variants(text: str) -> list[str]:
    return [text, text.capitalize(), text + "!", text + ".", text.upper(), f" {text} <br />"]


def test_variants_the_model_cannot_tell_apart_share_a_split() -> None:
    """The probe: 399 of 1,000 groups of such variants had members in test and in train/eval
    while the raw stripped text was hashed."""
    rules = RecordRules(IngestTextConfig(source="x.csv", labels=LABELS))
    rng = random.Random(0)
    splits_seen: collections.Counter[str] = collections.Counter()
    for i in range(1000):
        base = f"review number {i} the film was {rng.choice(['good', 'bad', 'fine'])}"
        variants = _variants(base)
        assert len({standardized_text(v) for v in variants}) == 1
        splits = {_split(rules, v) for v in variants}
        assert len(splits) == 1, (variants, splits)
        splits_seen.update(splits)
    # Still a hash split over the groups, in roughly the configured proportions.
    assert 730 < splits_seen["train"] < 870 and splits_seen["test"] > 60


def test_carving_eval_from_the_source_train_split_keys_on_the_standardized_text() -> None:
    config = IngestTextConfig(
        source="x.csv", labels=LABELS, split_by="source", split_column="split",
        eval_from_train=0.5,
    )  # fmt: skip
    rules = RecordRules(config)
    for i in range(200):
        variants = _variants(f"a review numbered {i}")
        splits = {_split(rules, v, split_value="train") for v in variants}
        assert len(splits) == 1, (variants, splits)


def test_an_id_column_still_decides_the_split_alone() -> None:
    rules = RecordRules(IngestTextConfig(source="x.csv", labels=LABELS, id_column="id"))
    by_id = {_split(rules, f"text {n}", id_value="user-7") for n in range(50)}
    assert len(by_id) == 1


def test_split_definition_names_what_decides_the_split() -> None:
    config = IngestTextConfig(source="x.csv", labels=LABELS)
    assert config.split_definition() == {
        "ingest": "ingest_text",
        "split_by": "hash",
        "ratios": {"eval": 0.1, "test": 0.1, "train": 0.8},
        "key": "standardized_text",
    }
    # Listing the ratios in another order is the same split; other ratios are not.
    reordered = IngestTextConfig(
        source="y.csv", labels=LABELS, split_ratios={"test": 0.1, "train": 0.8, "eval": 0.1}
    )
    assert reordered.split_definition() == config.split_definition()
    other = IngestTextConfig(
        source="x.csv", labels=LABELS, split_ratios={"train": 0.5, "eval": 0.1, "test": 0.4}
    )
    assert other.split_definition() != config.split_definition()
    by_id = IngestTextConfig(source="x.csv", labels=LABELS, id_column="id").split_definition()
    assert (by_id["key"], by_id["id_column"]) == ("id_column", "id")
    source = IngestTextConfig(
        source="d", format="aclimdb", labels=LABELS, split_by="source"
    ).split_definition()
    assert source == {
        "ingest": "ingest_text",
        "split_by": "source",
        "split_column": None,
        "source_splits": {"test": "test", "train": "train"},
        "eval_from_train": 0.1,
        "key": "standardized_text",
    }


def test_the_component_version_changed_with_the_split_key() -> None:
    """Cached Examples were split by the raw text: the fingerprint must change so no run
    reuses them (the module-closure hash sees schemas/text.py too; the version says it)."""
    assert COMPONENT.version >= 2


@pytest.mark.slow  # one Beam pipeline
def test_examples_record_the_split_definition_and_keep_variants_together(
    tmp_path: Path,
) -> None:
    lines = ["text,label"]
    for i in range(60):
        for variant in _variants(f"film {i} was fine"):
            lines.append(f'"{variant}",{LABELS[i % 2]}')
    source = tmp_path / "reviews.csv"
    source.write_text("\n".join(lines) + "\n")
    config = IngestTextConfig(source=str(source), labels=LABELS)
    _, examples, _ = run_component(tmp_path, config)
    assert examples.properties["split_definition"] == config.split_definition()
    where: dict[str, set[str]] = collections.defaultdict(set)
    for split in examples.properties["splits"]:
        if examples.properties["counts"][split]:
            for text, _label in read_examples(examples.uri, split):
                where[standardized_text(text)].add(split)
    assert len(where) == 60
    assert all(len(splits) == 1 for splits in where.values())
