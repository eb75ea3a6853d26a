"""ingest_text: the record-size limit of every format, an oversized multi-line CSV field, and a
late file without a header (issue 12's ingest defects)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from seqline.components.ingest_text import parsing
from seqline.components.ingest_text import records as rec
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.records import Record, Rejection
from seqline.components.ingest_text.sources import check_source
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.record_size import DEFAULT_MAX_RECORD_BYTES, RECORD_TOO_LARGE

LABELS = ("neg", "pos")
# A review of ~1 MB over 2,000 lines, full of commas and doubled quotes: the shape that made
# csv.reader resume inside the field and read it as thousands of rows.
HUGE_REVIEW = ('It was "great", really, ""great"", I said.\n' * 30_000).strip()
HUGE_BYTES = len(HUGE_REVIEW.encode())


def cfg(**overrides: object) -> IngestTextConfig:
    fields: dict[str, object] = {"source": "unused.csv", "labels": LABELS}
    fields.update(overrides)
    return IngestTextConfig(**fields)  # type: ignore[arg-type]


def quoted(text: str) -> bytes:
    return ('"' + text.replace('"', '""') + '"').encode()


def normal_rows(n: int, offset: int = 0) -> bytes:
    return b"".join(f"review number {offset + i},{LABELS[i % 2]}\n".encode() for i in range(n))


def test_default_limit_is_the_same_for_every_format() -> None:
    assert HUGE_BYTES > DEFAULT_MAX_RECORD_BYTES  # the fixture is over the limit
    for fmt in ("csv", "jsonl", "aclimdb", "movie_reviews"):
        assert cfg(format=fmt).max_record_bytes == DEFAULT_MAX_RECORD_BYTES


@pytest.mark.parametrize("value", [0, -5, 1.5, "1MB", True])
def test_max_record_bytes_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(ConfigError, match="^max_record_bytes: expected a number of bytes"):
        cfg(max_record_bytes=value)


def test_a_1mb_multiline_quoted_field_is_one_rejection_among_normal_rows() -> None:
    content = (
        b"text,label\n"
        + normal_rows(50)
        + quoted(HUGE_REVIEW)
        + b",pos\n"
        + normal_rows(50, offset=50)
    )
    items = list(parsing.parse_csv(io.BytesIO(content), "f.csv", cfg()))
    records = [i for i in items if isinstance(i, Record)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert len(items) == 101  # every record of the file, once
    assert [r.text for r in records] == [f"review number {i}" for i in range(100)]
    assert [r.position for r in records[50:52]] == [52 + 30_000, 53 + 30_000]
    (big,) = rejections
    assert (big.reason, big.position) == (RECORD_TOO_LARGE, 52)
    size = len(quoted(HUGE_REVIEW) + b",pos")  # the record as stored: quoting included
    assert f"record is {size} bytes" in big.message
    assert big.record.startswith('"It was ""great"", really,')
    assert big.record.endswith(f"...[truncated: {size} bytes in all]")
    assert len(big.record) < rec.MAX_RECORD_CHARS + 100


def test_raising_the_limit_accepts_the_same_record_in_every_format(tmp_path: Path) -> None:
    roomy = cfg(max_record_bytes=4 * DEFAULT_MAX_RECORD_BYTES)
    csv_content = b"text,label\n" + quoted(HUGE_REVIEW) + b",pos\n"
    (csv_item,) = parsing.parse_csv(io.BytesIO(csv_content), "f.csv", roomy)
    assert isinstance(csv_item, Record) and csv_item.text == HUGE_REVIEW

    jsonl = json.dumps({"text": HUGE_REVIEW, "label": "pos"}).encode() + b"\n"
    for config, expect_record in ((cfg(format="jsonl"), False), (roomy, True)):
        (item,) = parsing.parse_jsonl(io.BytesIO(jsonl), "f.jsonl", config)
        assert isinstance(item, Record) is expect_record
        if not expect_record:
            assert item.reason == RECORD_TOO_LARGE and item.position == 1

    review = tmp_path / "aclImdb" / "train" / "pos" / "0_9.txt"
    review.parent.mkdir(parents=True)
    review.write_text(HUGE_REVIEW, encoding="utf-8")
    for config, expect_record in ((cfg(format="aclimdb"), False), (roomy, True)):
        with open(review, "rb") as stream:
            head, size = parsing.read_capped(stream, config.max_record_bytes)
        item = parsing.parse_aclimdb_file(head, str(review), config, size=size)
        assert size == HUGE_BYTES
        assert isinstance(item, Record) is expect_record
        if not expect_record:
            assert item.reason == RECORD_TOO_LARGE
            assert item.record.endswith(f"[truncated: {HUGE_BYTES} bytes in all]")


def test_a_record_exactly_at_the_limit_is_accepted_one_byte_more_is_not() -> None:
    line = b'{"text": "abc", "label": "pos"}'
    at, over = (
        cfg(format="jsonl", max_record_bytes=len(line)),
        cfg(format="jsonl", max_record_bytes=len(line) - 1),
    )
    assert isinstance(next(parsing.parse_jsonl(io.BytesIO(line + b"\r\n"), "f", at)), Record)
    assert next(parsing.parse_jsonl(io.BytesIO(line), "f", over)).reason == RECORD_TOO_LARGE


def write_files(folder: Path, n_files: int, headerless: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for k in range(n_files):
        path = folder / f"part-{k:02d}.csv"
        header = b"" if k == headerless else b"text,label\n"
        path.write_bytes(header + normal_rows(4, offset=10 * k))
        paths.append(path)
    return paths


def test_pre_run_check_reads_the_header_of_a_late_file(tmp_path: Path) -> None:
    write_files(tmp_path / "data", 25, headerless=24)
    with pytest.raises(ConfigError, match=r"part-24\.csv.*missing \['text', 'label'\]"):
        check_source(cfg(source=str(tmp_path / "data")))
    write_files(tmp_path / "fine", 25, headerless=-1)
    check_source(cfg(source=str(tmp_path / "fine")))  # no error when every header is right


def test_pre_run_check_refuses_a_header_repeating_a_configured_column(tmp_path: Path) -> None:
    write_files(tmp_path / "data", 3, headerless=-1)
    (tmp_path / "data" / "part-01.csv").write_bytes(
        b"text,label,label\n" + b"a good film,pos,neg\n"
    )
    with pytest.raises(ConfigError, match=r"part-01\.csv.*'label' 2 times \(positions 2, 3\)"):
        check_source(cfg(source=str(tmp_path / "data")))
    # id_column is read too (split_by hash hashes it), so it may not repeat either
    (tmp_path / "ids.csv").write_bytes(b"id,text,label,id\n1,a good film,pos,1\n")
    with pytest.raises(ConfigError, match=r"'id' 2 times \(positions 1, 4\)"):
        check_source(cfg(source=str(tmp_path / "ids.csv"), id_column="id"))
    (tmp_path / "data" / "part-01.csv").write_bytes(b"note,text,label,note\nx,good,pos,y\n")
    check_source(cfg(source=str(tmp_path / "data")))  # an unread column may repeat


def test_a_headerless_file_keeps_its_first_row_as_a_rejection(tmp_path: Path) -> None:
    paths = write_files(tmp_path / "data", 25, headerless=24)
    items = []
    for path in paths:
        with open(path, "rb") as stream:
            items += list(parsing.parse_csv(stream, str(path), cfg()))
    assert len(items) == 25 * 4  # 4 rows per file, the headerless file's first row included
    late = [i for i in items if i.source.endswith("part-24.csv")]
    assert [(i.reason, i.position, i.record) for i in late] == [
        (rec.HEADER_MISMATCH, n + 1, f"review number {240 + n},{LABELS[n % 2]}") for n in range(4)
    ]
    assert sum(isinstance(i, Record) for i in items) == 24 * 4


@pytest.mark.slow  # one Beam run (~5 s on 2 cores)
def test_component_writes_every_accepted_record_and_counts_exactly(
    tmp_path: Path, run_ingest, read_examples, read_rejections
) -> None:
    folder = tmp_path / "data"
    write_files(folder, 25, headerless=24)
    big = folder / "part-99.csv"
    big.write_bytes(
        b"text,label\n" + normal_rows(10, 500) + quoted(HUGE_REVIEW) + b",neg\n" + normal_rows(10)
    )
    config = cfg(source=str(folder), max_reject_ratio=0.5)
    summary, examples, rejected = run_ingest(config)
    written = sum(len(read_examples(examples.uri, s)) for s in config.output_splits())
    assert summary["input"] == 25 * 4 + 21
    assert summary["accepted"] == written == 24 * 4 + 20
    assert summary["rejected"] == 5
    assert rejected.properties["by_reason"] == {rec.HEADER_MISMATCH: 4, RECORD_TOO_LARGE: 1}
    lines = read_rejections(rejected.uri)
    assert all(line["reason"] and line["record"] for line in lines)
