"""The ingest_text component end to end on files in tmp_path (Beam FnApiRunner)."""

from __future__ import annotations

import collections
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqline.components.ingest_text.component import COMPONENT
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.synthetic import write_aclimdb_layout, write_synthetic_reviews
from seqline.pipeline import beam_progress
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.harness import run_component as run_node

LABELS = ("neg", "pos")


BAD_CSV_ROWS = (
    b'"a review that spans\nthree lines, with ""quotes""\nand commas",pos\n'  # good
    b"only one field\n"  # wrong_column_count
    b'"  ",neg\n'  # empty_text
    b"no label here,\n"  # missing_label
    b"a fine text,positive\n"  # unknown_label
    b"caf\xe9 au lait,neg\n"  # undecodable_bytes
    b"spliced\x00z,pos\n"  # nul_character (was accepted as text)
    b"\n"  # blank line: not a record
)


@pytest.mark.slow  # the first Beam + TensorFlow run of a session: ~10 s on 2 cores
def test_csv_with_quoted_newlines_and_bad_records(
    tmp_path: Path, run_ingest, read_examples, read_rejections
) -> None:
    source = write_synthetic_reviews(tmp_path / "data" / "reviews.csv", 120, seed=7)
    with open(source, "ab") as f:
        f.write(BAD_CSV_ROWS)
    with open(source, newline="", encoding="utf-8", errors="surrogateescape") as f:
        data_rows = [r for r in list(csv.reader(f))[1:] if r]  # every non-blank row is a record
    config = IngestTextConfig(source=str(tmp_path / "data"), labels=LABELS, max_reject_ratio=0.1)

    summary, examples, rejected = run_ingest(config)

    # input = accepted + rejected, and input is every record of the file.
    assert summary["input"] == len(data_rows) == 127
    assert summary["accepted"] + summary["rejected"] == summary["input"]
    assert summary["rejected"] == 6
    assert summary["accepted"] == sum(summary["splits"].values()) == 121
    props = examples.properties
    assert props["splits"] == ["train", "eval", "test"]
    assert props["counts"] == summary["splits"]
    assert (props["labels"], props["rejected"], props["input"]) == (["neg", "pos"], 6, 127)
    assert props["skipped"] == {"blank_line": 1}

    written = [r for s in ("train", "eval", "test") for r in read_examples(examples.uri, s)]
    expected = [(r[0], r[1]) for r in data_rows[:120]]
    expected.append(('a review that spans\nthree lines, with "quotes"\nand commas', "pos"))
    assert collections.Counter(written) == collections.Counter(expected)

    rejections = read_rejections(rejected.uri)
    assert rejected.properties == {
        "count": 6,
        "by_reason": {
            "empty_text": 1,
            "missing_label": 1,
            "nul_character": 1,
            "undecodable_bytes": 1,
            "unknown_label": 1,
            "wrong_column_count": 1,
        },
    }
    by_reason = {r["reason"]: r for r in rejections}
    assert by_reason["wrong_column_count"]["record"] == "only one field"
    assert by_reason["undecodable_bytes"]["record"] == "b'caf\\xe9 au lait,neg'"
    # Line numbers: header 1, reviews 2-121, the 3-line review 122-124, then one row a line.
    assert by_reason["wrong_column_count"]["position"] == 125
    assert by_reason["unknown_label"]["position"] == 128
    assert by_reason["nul_character"]["position"] == 130
    assert by_reason["nul_character"]["record"] == "spliced\x00z,pos"
    assert {r["source"] for r in rejections} == {source}


def test_jsonl_hash_split_is_deterministic_and_respects_ratios(
    tmp_path: Path, run_ingest, read_examples, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_synthetic_reviews(tmp_path / "r.jsonl", 400, seed=1, fmt="jsonl")
    config = IngestTextConfig(
        source=source, format="jsonl", labels=LABELS, split_ratios={"train": 0.75, "eval": 0.25}
    )
    # Progress while Beam reads: with no interval every count the workers add is a line.
    monkeypatch.setattr(beam_progress, "DEFAULT_INTERVAL_S", 0.0)
    messages: list[str] = []
    first, examples_1, _ = run_ingest(config, "run1", progress=messages.append)
    second, examples_2, _ = run_ingest(config, "run2")

    reading = [re.fullmatch(r"reading: (\d+) records so far( \(\d+/s\))?", m) for m in messages]
    assert any(reading), messages
    assert max(int(m[1]) for m in reading if m) == 400  # the running total reaches the input
    assert messages[-1] == "accepted 400 of 400 records (0 rejected)"  # none after the run
    assert first == second
    assert first["rejected"] == 0 and first["input"] == 400
    assert abs(first["splits"]["eval"] / 400 - 0.25) < 0.06
    for split in ("train", "eval"):
        assert sorted(read_examples(examples_1.uri, split)) == sorted(
            read_examples(examples_2.uri, split)
        )
    train = {t for t, _ in read_examples(examples_1.uri, "train")}
    assert train.isdisjoint(t for t, _ in read_examples(examples_1.uri, "eval"))


def test_aclimdb_layout_uses_folders_as_labels_and_splits(
    tmp_path: Path, run_ingest, read_examples, read_rejections
) -> None:
    root = write_aclimdb_layout(tmp_path / "aclImdb", n_per_class=5, seed=2)
    (tmp_path / "aclImdb" / "test" / "neg" / "9_1.txt").write_bytes(b"\xff\xfe not utf-8")
    config = IngestTextConfig(
        source=str(tmp_path),  # the archive's parent works too
        format="aclimdb",
        labels=LABELS,
        split_by="source",
        max_reject_ratio=0.1,
    )
    summary, examples, rejected = run_ingest(config)

    # unsup/, urls_*.txt, imdb.vocab... are not records: 2 splits x 2 labels x 5, + 1 bad file.
    # test/ stays test; a hashed tenth of train/ (eval_from_train) is moved to eval.
    splits = summary.pop("splits")
    assert summary == {"input": 21, "accepted": 20, "rejected": 1}
    assert splits["test"] == 10 and splits["train"] + splits.get("eval", 0) == 10
    train = read_examples(examples.uri, "train") + read_examples(examples.uri, "eval")
    expected = {
        ((tmp_path / "aclImdb" / "train" / label / f).read_text(), label)
        for label in LABELS
        for f in os.listdir(Path(root) / "train" / label)
    }
    assert set(train) == expected
    assert collections.Counter(label for _, label in read_examples(examples.uri, "test")) == {
        "neg": 5,
        "pos": 5,
    }
    [bad] = read_rejections(rejected.uri)
    assert bad["reason"] == "undecodable_bytes" and bad["source"].endswith("test/neg/9_1.txt")


def test_reject_ratio_above_maximum_fails_and_keeps_the_rejections(
    tmp_path: Path, read_rejections
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(
        "text,label\n"
        + "".join(f"good review {i},pos\n" for i in range(8))
        + "unlabelled,\nmeh,so-so\nmeh again,so-so\n"
    )
    config = IngestTextConfig(source=str(source), labels=LABELS, max_reject_ratio=0.2)
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        run_node(COMPONENT, config, root=root, run_id="r1", node_id="ingest")
    message = str(err.value)
    assert "3 of 11" in message and "27.27%" in message and "20.00%" in message
    assert "unknown_label: 2, missing_label: 1" in message
    kept = root / "_failed" / "r1" / "ingest"  # kept by the runner, named in the error
    assert str(kept) in message
    # The component named its output's temporary directory; the error names where it went.
    assert f"rejected records are in {kept / 'rejected'}" in message and ".tmp-" not in message
    reasons = sorted(r["reason"] for r in read_rejections(str(kept / "rejected")))
    assert reasons == ["missing_label", "unknown_label", "unknown_label"]


def test_a_truncated_gzip_file_fails_the_run_naming_it(tmp_path: Path) -> None:
    """A cut-off .gz copy once read as a shorter file: the rows after the cut were lost with
    no rejection and no error. Now the run fails naming the file, and nothing is published."""
    import gzip

    rows = "".join(f"good review number {i} is fine,pos\n" for i in range(2000))
    whole = gzip.compress(("text,label\n" + rows).encode())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv.gz").write_bytes(whole)
    (tmp_path / "data" / "b.csv.gz").write_bytes(whole[: len(whole) * 2 // 3])
    config = IngestTextConfig(source=str(tmp_path / "data"), labels=LABELS)
    COMPONENT.check(config)  # the header of the cut file still reads
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        run_node(COMPONENT, config, root=root, run_id="r1", node_id="ingest")
    message = str(err.value)
    assert "b.csv.gz: expected a complete gzip file" in message
    assert "ends before its end-of-stream marker" in message
    assert not list((root / "ingest").rglob("artifact.json"))  # no output was published


def test_check_fails_before_running_when_nothing_matches_or_columns_are_missing(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="matches no file"):
        COMPONENT.check(IngestTextConfig(source=str(tmp_path / "*.csv"), labels=LABELS))
    with pytest.raises(ConfigError, match="matches no file"):
        COMPONENT.check(IngestTextConfig(source=str(tmp_path), format="aclimdb", labels=LABELS))
    (tmp_path / "r.csv").write_text("review,label\nx,pos\n")
    with pytest.raises(ConfigError, match=r"missing \['text'\]"):
        COMPONENT.check(IngestTextConfig(source=str(tmp_path / "r.csv"), labels=LABELS))
    COMPONENT.check(
        IngestTextConfig(source=str(tmp_path / "*.csv"), labels=LABELS, text_column="review")
    )


def test_source_fingerprint_tracks_files_not_reads(tmp_path: Path) -> None:
    a = write_synthetic_reviews(tmp_path / "d" / "a.csv", 5, seed=0)
    config = IngestTextConfig(source=str(tmp_path / "d"), labels=LABELS)
    first = COMPONENT.source_fingerprint(config)
    assert COMPONENT.source_fingerprint(config) == first
    os.utime(a, ns=(1, 1))  # touched: may have new content
    touched = COMPONENT.source_fingerprint(config)
    assert touched != first
    write_synthetic_reviews(tmp_path / "d" / "b.csv", 5, seed=1)  # a new file joins the source
    assert COMPONENT.source_fingerprint(config) not in (first, touched)
    (tmp_path / "d" / "notes.txt").write_text("not a csv")  # not part of a csv source
    assert COMPONENT.source_fingerprint(config) == COMPONENT.source_fingerprint(config)


def test_component_signature() -> None:
    assert COMPONENT.name == "ingest_text"
    assert dict(COMPONENT.inputs) == {}
    assert dict(COMPONENT.outputs) == {
        "examples": ArtifactType.EXAMPLES,
        "rejected": ArtifactType.REJECTED,
    }


def test_declaring_checking_and_fingerprinting_never_import_tensorflow_or_beam(
    tmp_path: Path,
) -> None:
    write_synthetic_reviews(tmp_path / "r.csv", 3)
    code = (
        "import sys\n"
        "from seqline.components.ingest_text.component import COMPONENT\n"
        "from seqline.components.ingest_text.config import IngestTextConfig\n"
        f"c = IngestTextConfig(source={str(tmp_path / 'r.csv')!r}, labels=('neg', 'pos'))\n"
        "COMPONENT.check(c)\n"
        "COMPONENT.source_fingerprint(c)\n"
        "heavy = {'tensorflow', 'apache_beam', 'tensorflow_transform', 'keras'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
