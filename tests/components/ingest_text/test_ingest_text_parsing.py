"""Pure parts of ingest_text: config checks, record rules, parsers, hash split, synthetic data."""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from seqline.components.ingest_text import counts as counts_lib
from seqline.components.ingest_text import parsing
from seqline.components.ingest_text import records as rec
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.records import Record, RecordRules, Rejection, Skipped
from seqline.components.ingest_text.sources import check_source
from seqline.components.ingest_text.splitting import assign_split, split_boundaries
from seqline.components.ingest_text.synthetic import (
    generate_reviews,
    signal_words,
    write_aclimdb_layout,
    write_synthetic_reviews,
)
from seqline.pipeline.errors import ConfigError, DataError

LABELS = ("neg", "pos")


def cfg(**overrides: object) -> IngestTextConfig:
    fields: dict[str, object] = {"source": "unused.csv", "labels": LABELS}
    fields.update(overrides)
    return IngestTextConfig(**fields)  # type: ignore[arg-type]


def csv_items(content: bytes, **overrides: object) -> list[parsing.Parsed]:
    return list(parsing.parse_csv(io.BytesIO(content), "f.csv", cfg(**overrides)))


def jsonl_items(content: bytes, **overrides: object) -> list[parsing.Parsed]:
    return list(
        parsing.parse_jsonl(io.BytesIO(content), "f.jsonl", cfg(format="jsonl", **overrides))
    )


def reasons(items: list[parsing.Parsed]) -> list[str]:
    return [i.reason for i in items if isinstance(i, Rejection)]


# --- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"labels": ("pos",)}, "labels"),
        ({"labels": ("neg", "neg")}, "labels"),
        ({"labels": ("neg", " pos")}, "labels"),
        ({"split_ratios": {"train": 0.8, "eval": 0.3}}, "split_ratios"),
        ({"split_ratios": {"train": 1.0, "eval": 0.0}}, "split_ratios.eval"),
        ({"split_ratios": {"a/b": 1.0}}, "split_ratios"),
        ({"split_by": "source", "split_column": None}, "split_column"),
        ({"max_reject_ratio": 1.5}, "max_reject_ratio"),
        ({"num_shards": -1}, "num_shards"),
        ({"source": ""}, "source"),
        ({"format": "parquet"}, "format"),
        ({"label_map": {"1": "positive"}}, "label_map"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(**overrides)
    assert str(err.value).startswith(f"{field}:")


def test_config_ratios_within_tolerance_and_output_split_order() -> None:
    config = cfg(split_ratios={"train": 0.7, "eval": 0.2, "test": 0.1 + 5e-7})
    assert config.output_splits() == ["train", "eval", "test"]
    source = cfg(split_by="source", split_column="part")
    assert source.output_splits() == ["train", "test", "eval"]  # eval carved from train
    own_eval = cfg(split_by="source", split_column="part", source_splits={"dev": "eval"} | {
        "train": "train", "test": "test"})  # fmt: skip
    assert own_eval.output_splits() == ["eval", "train", "test"] and not own_eval.carves_eval()
    assert cfg(split_by="source", split_column="p", eval_from_train=0).output_splits() == [
        "train", "test"]  # fmt: skip


def test_default_split_is_train_eval_test() -> None:
    # train fits, eval early-stops, test decides the blessing: three splits by default.
    assert cfg().split_ratios == {"train": 0.8, "eval": 0.1, "test": 0.1}
    assert cfg().output_splits() == ["train", "eval", "test"]
    with pytest.raises(ConfigError, match=r"^eval_from_train: expected a fraction in \[0, 1\)"):
        cfg(split_by="source", split_column="part", eval_from_train=1.0)


# --- record rules -----------------------------------------------------------------------------


def make(config: IngestTextConfig, **values: object) -> Record | Rejection:
    fields: dict[str, object] = {"source": "s", "position": 7, "raw": "raw line"}
    fields.update(values)
    return rec.make_record(RecordRules(config), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"text": None, "label": "pos"}, rec.MISSING_TEXT),
        ({"text": "  \n\t", "label": "pos"}, rec.EMPTY_TEXT),
        ({"text": "fine", "label": None}, rec.MISSING_LABEL),
        ({"text": "fine", "label": "   "}, rec.MISSING_LABEL),
        ({"text": "fine", "label": "maybe"}, rec.UNKNOWN_LABEL),
        ({"text": "fine", "label": "POS"}, rec.UNKNOWN_LABEL),
        ({"text": "caf\udce9", "label": "pos"}, rec.UNDECODABLE_BYTES),
        ({"text": 12, "label": "pos"}, rec.WRONG_TYPE),
        ({"text": "fine", "label": True}, rec.WRONG_TYPE),
        ({"text": "fine", "label": 1.0}, rec.WRONG_TYPE),
    ],
)
def test_make_record_rejects_with_reason(values: dict, reason: str) -> None:
    out = make(cfg(), **values)
    assert isinstance(out, Rejection)
    assert (out.reason, out.source, out.position) == (reason, "s", 7)
    assert out.message


def test_make_record_accepts_stripped_mapped_and_numeric_labels() -> None:
    out = make(cfg(), text=" good film ", label=" pos\n")
    assert isinstance(out, Record)
    assert (out.text, out.label) == (" good film ", "pos")  # text kept as given
    numeric = cfg(labels=("0", "1"))
    assert make(numeric, text="t", label=1).label == "1"  # JSON number 1 is label "1"
    mapped = cfg(label_map={"0": "neg", "1": "pos"})
    assert make(mapped, text="t", label="1").label == "pos"
    assert make(mapped, text="t", label="neg").label == "neg"


def test_make_record_source_split_mapping() -> None:
    config = cfg(split_by="source", split_column="part", eval_from_train=0)
    assert make(config, text="t", label="pos", split_value="test").split == "test"
    assert make(config, text="t", label="pos", split_value=" train ").split == "train"
    assert make(config, text="t", label="pos", split_value="dev").reason == rec.UNKNOWN_SPLIT
    assert make(config, text="t", label="pos", split_value="").reason == rec.MISSING_SPLIT


def test_source_split_carves_eval_from_train_only() -> None:
    # aclImdb has train/ and test/ only: a tenth of train moves to eval (for early stopping),
    # by hash, so reruns agree; test records never move.
    config = cfg(split_by="source", split_column="part", eval_from_train=0.1)
    texts = [f"review {i}" for i in range(3000)]
    train = [make(config, text=t, label="pos", split_value="train").split for t in texts]
    again = [make(config, text=t, label="pos", split_value="train").split for t in texts]
    assert train == again and set(train) == {"train", "eval"}
    assert abs(train.count("eval") / len(texts) - 0.1) < 0.02
    test = {make(config, text=t, label="pos", split_value="test").split for t in texts}
    assert test == {"test"}


def test_make_record_id_column_drives_the_split() -> None:
    config = cfg(id_column="doc", split_ratios={"a": 0.5, "b": 0.5})
    splits = {make(config, text=f"text {i}", label="pos", id_value="same").split for i in range(50)}
    assert len(splits) == 1  # one id -> one split, whatever the text
    assert make(config, text="t", label="pos", id_value=None).reason == rec.MISSING_ID


def test_rejection_record_is_repr_of_bytes_when_undecodable_and_truncated_when_huge() -> None:
    assert rec.raw_for_rejection(b"caf\xe9") == "b'caf\\xe9'"
    assert rec.raw_for_rejection("caf\udce9") == "b'caf\\xe9'"
    huge = rec.raw_for_rejection("x" * (rec.MAX_RECORD_CHARS + 5))
    assert huge.startswith("x" * rec.MAX_RECORD_CHARS) and huge.endswith("[5 more characters]")


# --- CSV --------------------------------------------------------------------------------------


def test_csv_quoted_newlines_commas_and_quotes_with_start_line_positions() -> None:
    content = (
        b'text,label\n"first line\nsecond, with comma",pos\n"He said ""hi""",neg\r\nplain,pos\n'
    )
    items = csv_items(content)
    assert [(i.text, i.label, i.position) for i in items] == [
        ("first line\nsecond, with comma", "pos", 2),
        ('He said "hi"', "neg", 4),
        ("plain", "pos", 5),
    ]


def test_csv_each_rejection_reason_and_the_file_goes_on() -> None:
    content = (
        b"label,text,extra\n"
        b"pos,ok one,x\n"
        b"pos,too,many,fields\n"  # wrong_column_count
        b"pos,  ,x\n"  # empty_text
        b",text,x\n"  # missing_label
        b"meh,text,x\n"  # unknown_label
        b"neg,caf\xe9,x\n"  # undecodable_bytes
        b'pos,"bad"quote,x\n'  # malformed_csv
        b"\n"  # blank line: skipped, not a record
        b"neg,ok two,x\n"
    )
    items = csv_items(content)
    assert reasons(items) == [
        rec.WRONG_COLUMN_COUNT,
        rec.EMPTY_TEXT,
        rec.MISSING_LABEL,
        rec.UNKNOWN_LABEL,
        rec.UNDECODABLE_BYTES,
        rec.MALFORMED_CSV,
    ]
    assert [i.text for i in items if isinstance(i, Record)] == ["ok one", "ok two"]
    assert [(i.reason, i.position) for i in items if isinstance(i, Skipped)] == [
        (rec.BLANK_LINE, 9)
    ]
    undecodable = next(i for i in items if getattr(i, "reason", "") == rec.UNDECODABLE_BYTES)
    assert undecodable.record == "b'neg,caf\\xe9,x'" and undecodable.position == 7
    wrong = next(i for i in items if getattr(i, "reason", "") == rec.WRONG_COLUMN_COUNT)
    assert wrong.record == "pos,too,many,fields" and wrong.position == 3


def test_csv_header_without_a_configured_column_rejects_every_row_keeping_it() -> None:
    items = csv_items(b"body,label\nhello,pos\n\nbye,neg\n")
    assert [(type(i).__name__, i.reason, i.position) for i in items] == [
        ("Rejection", rec.HEADER_MISMATCH, 1),
        ("Rejection", rec.HEADER_MISMATCH, 2),
        ("Skipped", rec.BLANK_LINE, 3),
        ("Rejection", rec.HEADER_MISMATCH, 4),
    ]
    assert [i.record for i in items if isinstance(i, Rejection)] == [
        "body,label",
        "hello,pos",
        "bye,neg",
    ]
    assert "missing ['text']" in items[0].message


@pytest.mark.parametrize(
    ("header", "overrides", "repeated"),
    [
        (b"text,label,label", {}, "'label' 2 times (positions 2, 3)"),
        (b"text,label,text", {}, "'text' 2 times (positions 1, 3)"),
        (b"id,text,label,id", {"id_column": "id"}, "'id' 2 times (positions 1, 4)"),
        (
            b"text,label,part,part",
            {"split_by": "source", "split_column": "part"},
            "'part' 2 times (positions 3, 4)",
        ),
    ],
)
def test_csv_header_repeating_a_configured_column_rejects_every_row(
    header: bytes, overrides: dict, repeated: str
) -> None:
    """Reading the first copy (the old behaviour) silently trained on whichever column came
    first; JSONL refuses a repeated key, so CSV refuses a repeated configured column."""
    width = header.count(b",") + 1
    row = b",".join([b"pos"] * width)
    items = csv_items(header + b"\n" + row + b"\n" + row + b"\n", **overrides)
    assert [(type(i).__name__, i.reason, i.position) for i in items] == [
        ("Rejection", rec.HEADER_MISMATCH, 1),
        ("Rejection", rec.HEADER_MISMATCH, 2),
        ("Rejection", rec.HEADER_MISMATCH, 3),
    ]
    assert repeated in items[0].message and items[1].record == row.decode()


def test_csv_header_may_repeat_a_column_the_config_does_not_read() -> None:
    items = csv_items(b"note,text,note,label\nx,hello,y,pos\n")
    assert [(i.text, i.label) for i in items] == [("hello", "pos")]


def test_csv_bom_and_configured_columns() -> None:
    content = "\ufeffreview,sentiment\nnice,1\n".encode()
    items = csv_items(content, text_column="review", label_column="sentiment", labels=("0", "1"))
    assert [(i.text, i.label) for i in items] == [("nice", "1")]


def test_csv_unclosed_quote_rejects_its_line_and_the_rows_after_it_still_count() -> None:
    items = csv_items(b'text,label\ngood,pos\n"never closed,pos\nmore,neg\n')
    assert [type(i).__name__ for i in items] == ["Record", "Rejection", "Record"]
    assert items[1].reason == rec.MALFORMED_CSV and items[1].position == 3
    assert items[1].record == '"never closed,pos' and "never closed before" in items[1].message
    assert (items[2].text, items[2].label) == ("more", "neg")


def test_csv_lone_cr_in_an_unquoted_cell_is_one_rejection_never_an_accepted_fragment() -> None:
    # It used to end the line: `lone` was rejected, `cr` accepted with the label neg.
    items = csv_items(b'text,label\nfirst,pos\nlone\rcr,neg\n"quoted\rcr",pos\nthird,pos\n')
    assert [(type(i).__name__, i.position) for i in items] == [
        ("Record", 2),
        ("Rejection", 3),
        ("Record", 4),
        ("Record", 5),
    ]
    assert (items[1].reason, items[1].record) == (rec.MALFORMED_CSV, "lone\rcr,neg")
    assert "carriage return" in items[1].message and "tr '\\r' '\\n'" in items[1].message
    assert items[2].text == "quoted\rcr"


def test_csv_file_with_cr_line_endings_is_refused_with_how_to_convert_it(tmp_path: Path) -> None:
    content = b"text,label\rfirst,pos\rsecond,neg\r"
    with pytest.raises(DataError, match=r"f\.csv.*old-Mac \\r line endings.*tr '\\r' '\\n'"):
        csv_items(content)
    path = tmp_path / "mac.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"mac\.csv.*old-Mac \\r line endings"):
        check_source(cfg(source=str(path)))


def test_a_folder_reads_every_compressed_csv_and_names_the_files_it_does_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import bz2
    import lzma

    import zstandard

    from seqline.components.ingest_text.sources import resolve_source

    folder = tmp_path / "d"
    folder.mkdir()
    rows = b"text,label\nnice,pos\n"
    (folder / "a.csv").write_bytes(rows)
    (folder / "b.csv.bz2").write_bytes(bz2.compress(rows))  # skipped silently before
    (folder / "c.CSV.XZ").write_bytes(lzma.compress(rows))
    (folder / "e.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(rows))
    for name in ("notes.txt", "f.tsv", "g.csv.rar", ".hidden.csv"):
        (folder / name).write_bytes(rows)
    config = cfg(source=str(folder))
    names = [Path(f).name for f in resolve_source(config).files]
    assert names == ["a.csv", "b.csv.bz2", "c.CSV.XZ", "e.csv.zst"]
    with caplog.at_level("WARNING"):
        check_source(config)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "holds 3 file(s) that are not read" in warning
    assert "f.tsv, g.csv.rar, notes.txt" in warning and ".hidden" not in warning
    only_bz2 = tmp_path / "only"
    only_bz2.mkdir()
    (only_bz2 / "x.jsonl.bz2").write_bytes(bz2.compress(b'{"text": "a", "label": "pos"}\n'))
    assert resolve_source(cfg(source=str(only_bz2), format="jsonl")).files  # not "no file"


def test_wrong_column_count_quotes_a_few_header_names_not_the_whole_header() -> None:
    # Each rejection used to quote the whole header: 989 KB for one 10-character record.
    header = ",".join(["text", "label"] + [f"column_{i}" for i in range(100_000)])
    (item,) = csv_items(header.encode() + b"\nshort,pos\n", max_record_bytes=4 << 20)
    assert item.reason == rec.WRONG_COLUMN_COUNT and item.record == "short,pos"
    assert item.message == (
        "expected 100002 fields as in the header ('text', 'label', 'column_0', 'column_1', "
        "'column_2', and 99997 more), got 2"
    )
    (item,) = csv_items(b"text,label\na,pos,x\n")
    assert item.message == "expected 2 fields as in the header ('text', 'label'), got 3"


def test_csv_split_column() -> None:
    items = csv_items(
        b"text,label,part\na,pos,train\nb,neg,test\nc,neg,other\n",
        split_by="source",
        split_column="part",
    )
    outcome = [i.split if isinstance(i, Record) else i.reason for i in items]
    assert outcome == ["train", "test", rec.UNKNOWN_SPLIT]


# --- JSONL ------------------------------------------------------------------------------------


def test_jsonl_each_rejection_reason() -> None:
    lines = [
        b'{"text": "ok", "label": "pos"}',
        b'{"text": "broken", ',  # malformed_json
        b'["text", "pos"]',  # malformed_json: not an object
        b'{"label": "pos"}',  # missing_text
        b'{"text": null, "label": "pos"}',  # missing_text
        b'{"text": " ", "label": "pos"}',  # empty_text
        b'{"text": "x"}',  # missing_label
        b'{"text": "x", "label": "meh"}',  # unknown_label
        b'{"text": "caf\xe9", "label": "pos"}',  # undecodable_bytes (raw byte)
        b'{"text": "\\ud800", "label": "pos"}',  # undecodable_bytes (lone surrogate escape)
        b'{"text": ["a"], "label": "pos"}',  # wrong_type
        b"   ",  # blank: skipped
        b'{"text": "ok2", "label": "neg", "extra": 1}',
    ]
    items = jsonl_items(b"\n".join(lines) + b"\n")
    assert reasons(items) == [
        rec.MALFORMED_JSON,
        rec.MALFORMED_JSON,
        rec.MISSING_TEXT,
        rec.MISSING_TEXT,
        rec.EMPTY_TEXT,
        rec.MISSING_LABEL,
        rec.UNKNOWN_LABEL,
        rec.UNDECODABLE_BYTES,
        rec.UNDECODABLE_BYTES,
        rec.WRONG_TYPE,
    ]
    accepted = [(i.text, i.position) for i in items if isinstance(i, Record)]
    assert accepted == [("ok", 1), ("ok2", 13)]
    bad_bytes = [i for i in items if getattr(i, "reason", "") == rec.UNDECODABLE_BYTES][0]
    assert bad_bytes.record.startswith("b'") and bad_bytes.position == 9
    assert [i.position for i in items if isinstance(i, Skipped)] == [12]


def test_jsonl_duplicate_keys_and_carriage_returns_are_named() -> None:
    items = jsonl_items(
        b'{"text": "kept?", "label": "neg", "label": "pos"}\n'
        b'{"text": "a", "label": "pos"}\r{"text": "b", "label": "pos"}\n'
        b'{"text": "ok", "label": "pos"}\n'
    )
    assert reasons(items) == [rec.MALFORMED_JSON, rec.MALFORMED_JSON]
    # json.loads would have kept the last "label" without a word.
    assert "the key 'label' appears more than once" in items[0].message
    # A lone CR is not a JSON Lines record end: the two records are one malformed line.
    assert "JSON Lines records end at \\n or \\r\\n only" in items[1].message
    assert (items[2].text, items[2].position) == ("ok", 3)


def test_jsonl_lone_surrogate_escape_is_named_as_such_not_as_bad_bytes() -> None:
    items = jsonl_items(
        b'{"text": "\\ud800 lone", "label": "pos"}\n'
        b'{"text": "ok", "label": "\\udfff"}\n'
        b'{"text": "caf\xe9", "label": "pos"}\n'
    )
    assert reasons(items) == [rec.UNDECODABLE_BYTES] * 3
    assert "text holds a lone surrogate (a \\uD800-\\uDFFF JSON escape" in items[0].message
    assert items[0].record == '{"text": "\\ud800 lone", "label": "pos"}'
    assert items[1].message.startswith("label holds a lone surrogate")
    assert "not valid UTF-8" in items[2].message  # real bad bytes still say so
    (csv_bad,) = csv_items(b"text,label\ncaf\xe9,pos\n")
    # Where the bad byte is, and how to fix the source.
    assert csv_bad.message == (
        "text is not valid UTF-8: byte 0xE9 at character 4 (after 'caf'); re-encode the "
        "source as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    )


def test_jsonl_numeric_labels_and_keys() -> None:
    items = jsonl_items(
        b'\xef\xbb\xbf{"body": "a", "y": 0}\n{"body": "b", "y": "1"}\n',
        text_column="body",
        label_column="y",
        labels=("0", "1"),
    )
    assert [(i.text, i.label) for i in items] == [("a", "0"), ("b", "1")]


# --- aclImdb ----------------------------------------------------------------------------------


def test_aclimdb_file_label_and_source_split() -> None:
    config = cfg(format="aclimdb", split_by="source")
    out = parsing.parse_aclimdb_file(b"A fine film.", "/d/aclImdb/test/pos/3_8.txt", config)
    assert isinstance(out, Record)
    assert (out.label, out.split, out.position) == ("pos", "test", 1)
    bad = parsing.parse_aclimdb_file(b"\xff\xfe", "/d/aclImdb/train/neg/1_2.txt", config)
    assert bad.reason == rec.UNDECODABLE_BYTES
    empty = parsing.parse_aclimdb_file(b"  ", "/d/aclImdb/train/neg/1_2.txt", config)
    assert empty.reason == rec.EMPTY_TEXT


# --- NUL characters (every format) ------------------------------------------------------------


def test_csv_rows_holding_a_nul_are_rejected_with_their_own_reason() -> None:
    # The scale probe's damaged rows (`<text>\x00z,<label>`) were accepted as text.
    items = csv_items(
        b"text,label\nfine,pos\nspliced\x00z,pos\nlabel,pos\x00\n\x00,neg\nalso fine,neg\n"
    )
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert [(i.position, i.reason) for i in rejected] == [
        (3, rec.NUL_CHARACTER),
        (4, rec.NUL_CHARACTER),
        (5, rec.NUL_CHARACTER),
    ]
    assert "text without NUL characters" in rejected[0].message
    assert "character 8" in rejected[0].message
    assert "label without NUL characters" in rejected[1].message
    assert rejected[0].record == "spliced\x00z,pos"  # the raw row, kept
    accepted = [(i.text, i.label) for i in items if isinstance(i, Record)]
    assert accepted == [("fine", "pos"), ("also fine", "neg")]  # input = accepted + rejected


def test_jsonl_nul_escapes_are_rejected_and_the_message_says_it_was_an_escape() -> None:
    items = jsonl_items(
        b'{"text": "a\\u0000b", "label": "pos"}\n'
        b'{"text": "ok", "label": "pos\\u0000"}\n'
        b'{"text": "ok", "label": "neg"}\n'
    )
    assert reasons(items) == [rec.NUL_CHARACTER, rec.NUL_CHARACTER]
    assert "(a \\u0000 escape)" in items[0].message
    assert isinstance(items[2], Record)


def test_split_and_id_values_holding_a_nul_are_rejected() -> None:
    by_source = cfg(split_by="source", split_column="part", eval_from_train=0)
    assert make(by_source, text="t", label="pos", split_value="tr\x00ain").reason == (
        rec.NUL_CHARACTER
    )
    by_id = cfg(id_column="doc")
    assert make(by_id, text="t", label="pos", id_value="d\x001").reason == rec.NUL_CHARACTER
    assert isinstance(make(by_id, text="t", label="pos", id_value="d1"), Record)


def test_an_id_value_that_is_not_utf8_is_rejected_naming_the_id_and_the_byte() -> None:
    by_id = cfg(id_column="doc")
    bad = b"d\xff1".decode("utf-8", "surrogateescape")  # how the CSV reader hands it over
    out = make(by_id, text="t", label="pos", id_value=bad, raw=f"{bad},t,pos")
    assert isinstance(out, Rejection) and out.reason == rec.UNDECODABLE_BYTES
    assert out.message.startswith("id is not valid UTF-8: byte 0xFF at character 2 (after 'd')")


def test_aclimdb_file_holding_a_nul_is_rejected() -> None:
    config = cfg(format="aclimdb", split_by="source")
    out = parsing.parse_aclimdb_file(b"A fine\x00 film.", "/d/aclImdb/test/pos/3_8.txt", config)
    assert isinstance(out, Rejection) and out.reason == rec.NUL_CHARACTER


# --- hash split -------------------------------------------------------------------------------


def test_hash_split_is_stable_order_independent_and_roughly_proportional() -> None:
    keys = [f"review number {i}" for i in range(4000)]
    a = split_boundaries({"train": 0.7, "eval": 0.2, "test": 0.1})
    b = split_boundaries({"test": 0.1, "train": 0.7, "eval": 0.2})
    first = [assign_split(k, a) for k in keys]
    assert first == [assign_split(k, b) for k in keys]
    shares = collections.Counter(first)
    for name, ratio in (("train", 0.7), ("eval", 0.2), ("test", 0.1)):
        assert abs(shares[name] / len(keys) - ratio) < 0.03


# --- counts and the verdict ------------------------------------------------------------------


def counts_doc(splits: dict[str, int], by_reason: dict[str, int]) -> dict:
    rejected = sum(by_reason.values())
    return {
        "input": sum(splits.values()) + rejected,
        "splits": splits,
        "rejected": rejected,
        "by_reason": by_reason,
        "skipped": {},
    }


def test_enforce_quality_allows_the_ratio_exactly_and_fails_above_it() -> None:
    config = cfg(max_reject_ratio=0.25)
    at_limit = counts_doc({"train": 3}, {"empty_text": 1})  # 1 of 4 = 25%
    counts_lib.enforce_quality(at_limit, config, "/x/rejected")
    above = counts_doc({"train": 2}, {"empty_text": 1})  # 1 of 3
    with pytest.raises(DataError, match=r"1 of 3 \(33.33%\).*empty_text: 1.*/x/rejected"):
        counts_lib.enforce_quality(above, config, "/x/rejected", samples=['{"reason": "x"}'])


def test_enforce_quality_fails_when_nothing_is_accepted_even_if_ratio_allows_it() -> None:
    nothing = counts_doc({"train": 0, "eval": 0}, {"unknown_label": 2})
    with pytest.raises(DataError, match="expected at least one valid record, got none"):
        counts_lib.enforce_quality(nothing, cfg(max_reject_ratio=1.0), "/x/rejected")
    empty_source = counts_doc({"train": 0}, {})
    with pytest.raises(DataError, match="got none"):
        counts_lib.enforce_quality(empty_source, cfg(), "/x/rejected")


def test_conservation_check_catches_lost_records() -> None:
    counts = counts_doc({"train": 3}, {"empty_text": 1})
    counts_lib.check_conservation(counts)
    counts["input"] += 1
    with pytest.raises(RuntimeError, match="input 5 != accepted 3 \\+ rejected 1"):
        counts_lib.check_conservation(counts)


# --- synthetic corpus -------------------------------------------------------------------------


def test_synthetic_csv_is_deterministic_balanced_and_parseable(tmp_path) -> None:
    a = write_synthetic_reviews(tmp_path / "a.csv", 60, seed=3)
    b = write_synthetic_reviews(tmp_path / "b.csv", 60, seed=3)
    c = write_synthetic_reviews(tmp_path / "c.csv", 60, seed=4)
    assert Path(a).read_bytes() == Path(b).read_bytes() != Path(c).read_bytes()
    with open(a, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert collections.Counter(r["label"] for r in rows) == {"neg": 30, "pos": 30}
    assert any("<br />" in r["text"] for r in rows)
    words = signal_words(LABELS)
    for row in rows:  # every review carries its own label's signal
        assert any(w in row["text"].lower() for w in words[row["label"]])


def test_synthetic_jsonl_multiclass(tmp_path) -> None:
    labels = ("fantasy", "scifi", "crime")
    path = write_synthetic_reviews(tmp_path / "m.jsonl", 30, seed=1, fmt="jsonl", labels=labels)
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    assert collections.Counter(r["label"] for r in rows) == dict.fromkeys(labels, 10)
    assert generate_reviews(30, 1, labels) == [(r["text"], r["label"]) for r in rows]


def test_synthetic_aclimdb_layout(tmp_path) -> None:
    root = write_aclimdb_layout(tmp_path / "aclImdb", n_per_class=2, seed=0)
    reviews = sorted(
        p.relative_to(root).parts[:2] for p in (tmp_path / "aclImdb").glob("*/*/*.txt")
    )
    assert collections.Counter(reviews)[("train", "pos")] == 2
    assert collections.Counter(reviews)[("test", "neg")] == 2
    assert (tmp_path / "aclImdb" / "train" / "unsup").is_dir()
    assert (tmp_path / "aclImdb" / "train" / "urls_pos.txt").is_file()


def test_aclimdb_review_files_not_named_txt_are_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from seqline.components.ingest_text.sources import resolve_source

    root = Path(write_aclimdb_layout(tmp_path / "aclImdb", n_per_class=2, seed=0))
    (root / "test" / "pos" / "9_9.TXT").write_text("great")  # skipped without a word before
    (root / "train" / "neg" / "1_1.txt.gz").write_bytes(b"x")
    (root / "train" / "neg" / ".DS_Store").write_bytes(b"x")  # hidden: skipped by design
    config = cfg(source=str(root), format="aclimdb")
    files = resolve_source(config).files
    assert len(files) == 8 and all(f.endswith(".txt") for f in files)
    with caplog.at_level("WARNING"):
        check_source(config)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "hold 2 entries that are not read" in warning
    assert "9_9.TXT" in warning and "1_1.txt.gz" in warning and "DS_Store" not in warning


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg().source = "x"  # type: ignore[misc]
