"""ingest_series parsers: the record-size limit (CSV and Parquet), an oversized multi-line
quoted field, and a file without a header (issue 12's ingest defects)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from seqline.components.ingest_series import parsing
from seqline.components.ingest_series import records as rec
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.records import Rejection
from seqline.components.ingest_series.sources import check_source
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.record_size import DEFAULT_MAX_RECORD_BYTES, RECORD_TOO_LARGE


def cfg(**overrides: object) -> IngestSeriesConfig:
    fields: dict[str, object] = {"source": "unused.csv", "frequency": "1h", "lookback": 2}
    fields.update(overrides)
    return IngestSeriesConfig(**fields)  # type: ignore[arg-type]


def rows(n: int, first_hour: int = 0) -> bytes:
    return b"".join(
        f"2000-01-01T{(first_hour + h) % 24:02d}:00:00,{h}.5\n".encode() for h in range(n)
    )


def parse(content: bytes, config: IngestSeriesConfig) -> tuple[list[int], list[Rejection]]:
    """(accepted positions, rejections) of one CSV file."""
    accepted: list[int] = []
    rejected: list[Rejection] = []
    for item in parsing.parse_csv(io.BytesIO(content), "f.csv", 0, config):
        if isinstance(item, Rejection):
            rejected.append(item)
        else:
            accepted += item[1].positions.tolist()
    return sorted(accepted), rejected


def test_default_limit_matches_ingest_text() -> None:
    assert cfg().max_record_bytes == DEFAULT_MAX_RECORD_BYTES


def test_a_1mb_multiline_quoted_cell_is_one_rejection_and_later_rows_are_read() -> None:
    huge = '"' + 'a,"" b\n' * 150_000 + '"'  # ~1 MB over 150,000 lines, commas and quotes
    content = (
        b"timestamp,value\n"
        + rows(5)
        + f"2000-01-01T05:00:00,{huge}\n".encode()
        + rows(5, first_hour=6)
    )
    accepted, rejected = parse(content, cfg())
    assert accepted == [2, 3, 4, 5, 6, 150_008, 150_009, 150_010, 150_011, 150_012]
    (big,) = rejected
    assert (big.reason, big.position) == (RECORD_TOO_LARGE, 7)
    assert big.record.startswith('2000-01-01T05:00:00,"a,"" b\n')
    assert f"[truncated: {len(huge) + 20} bytes in all]" in big.record


def test_a_row_with_bytes_that_are_not_utf8_names_the_field_and_the_byte() -> None:
    content = b"timestamp,value\n" + rows(2) + b"2000-01-01T02:00:00,3.5\xe9\n" + rows(1, 3)
    accepted, rejected = parse(content, cfg())
    assert accepted == [2, 3, 5]
    (bad,) = rejected
    assert (bad.reason, bad.position) == (rec.UNDECODABLE_BYTES, 4)
    assert bad.message == (
        "the row is not valid UTF-8 (field 2: byte 0xE9 at character 4 (after '3.5')); "
        "re-encode the source as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    )


def test_a_headerless_file_rejects_every_row_with_its_raw_text() -> None:
    accepted, rejected = parse(rows(3), cfg())
    assert accepted == []
    assert [(r.reason, r.position, r.record) for r in rejected] == [
        (rec.HEADER_MISMATCH, 1, "2000-01-01T00:00:00,0.5"),
        (rec.HEADER_MISMATCH, 2, "2000-01-01T01:00:00,1.5"),
        (rec.HEADER_MISMATCH, 3, "2000-01-01T02:00:00,2.5"),
    ]
    assert "missing ['timestamp', 'value']" in rejected[0].message


def test_a_header_repeating_a_configured_column_is_refused(tmp_path: Path) -> None:
    """The old parser read the first copy of a repeated column (header.index)."""
    content = b"timestamp,value,value\n" + b"".join(
        line + b",9.0\n" for line in rows(3).splitlines()
    )
    accepted, rejected = parse(content, cfg())
    assert accepted == []
    assert [(r.reason, r.position) for r in rejected] == [
        (rec.HEADER_MISMATCH, 1),
        (rec.HEADER_MISMATCH, 2),
        (rec.HEADER_MISMATCH, 3),
        (rec.HEADER_MISMATCH, 4),
    ]
    assert "'value' 2 times (positions 2, 3)" in rejected[0].message
    path = tmp_path / "s.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"s\.csv.*'value' 2 times \(positions 2, 3\)"):
        check_source(cfg(source=str(path)))
    path.write_bytes(b"timestamp,note,value,note\n2000-01-01T00:00:00,a,1.0,b\n")
    check_source(cfg(source=str(path)))  # a column the config does not read may repeat


def test_a_lone_cr_is_one_rejected_row_and_a_cr_only_file_is_refused(tmp_path: Path) -> None:
    # The shared CSV reader cut `...,1.5\r2000-...` in two at the bare \r.
    content = b"timestamp,value\n" + rows(1) + b"2000-01-01T01:00:00,1.5\r9\n" + rows(1, 2)
    accepted, rejected = parse(content, cfg())
    assert accepted == [2, 4]
    assert [(r.reason, r.position, r.record) for r in rejected] == [
        (rec.MALFORMED_CSV, 3, "2000-01-01T01:00:00,1.5\r9")
    ]
    mac = (b"timestamp,value\n" + rows(3)).replace(b"\n", b"\r")
    with pytest.raises(DataError, match=r"f\.csv.*old-Mac \\r line endings.*tr '\\r' '\\n'"):
        parse(mac, cfg())
    path = tmp_path / "mac.csv"
    path.write_bytes(mac)
    with pytest.raises(ConfigError, match=r"mac\.csv.*old-Mac \\r line endings"):
        check_source(cfg(source=str(path)))


def test_a_folder_reads_every_compressed_csv_and_names_the_files_it_does_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import bz2

    from seqline.components.ingest_series.sources import resolve_source

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.csv.bz2").write_bytes(bz2.compress(b"timestamp,value\n" + rows(2)))
    (folder / "b.csv.zstd").write_bytes(b"")  # listed: the reader refuses it, not the listing
    (folder / "readme.md").write_text("about the data")
    assert [Path(f).name for f in resolve_source(cfg(source=str(folder))).files] == [
        "a.csv.bz2",
        "b.csv.zstd",
    ]
    (folder / "b.csv.zstd").unlink()
    with caplog.at_level("WARNING"):
        check_source(cfg(source=str(folder)))
    assert any("holds 1 file(s) that are not read" in r.getMessage() and "readme.md" in
               r.getMessage() for r in caplog.records)  # fmt: skip


def test_pre_run_check_reads_the_header_of_a_late_file(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for k in range(25):
        header = b"" if k == 24 else b"timestamp,value\n"
        (folder / f"part-{k:02d}.csv").write_bytes(header + rows(3, first_hour=k))
    with pytest.raises(ConfigError, match=r"part-24\.csv"):
        check_source(cfg(source=str(folder)))


def test_parquet_rows_with_text_cells_over_the_limit_are_rejected(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "s.parquet"
    table = pa.table(
        {
            "timestamp": ["2000-01-01T00:00:00", "2000-01-01T01:00:00", "2000-01-01T02:00:00"],
            "value": ["1.0", "9" * 300, "3.0"],
        }
    )
    pq.write_table(table, path)
    with open(path, "rb") as handle:
        items = list(parsing.parse_parquet(handle, str(path), 0, cfg(max_record_bytes=100)))
    rejected = [i for i in items if isinstance(i, Rejection)]
    accepted = [p for i in items if not isinstance(i, Rejection) for p in i[1].positions]
    assert accepted == [1, 3]
    assert [(r.reason, r.position) for r in rejected] == [(RECORD_TOO_LARGE, 2)]
    assert "record is 319 bytes" in rejected[0].message  # 19 + 300 bytes of text cells


def test_boolean_columns_are_read_as_zero_or_one_from_csv_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    config = cfg(covariates=("holiday",))
    content = (
        b"timestamp,value,holiday\n"
        b"2000-01-01T00:00:00,1.5,true\n"
        b"2000-01-01T01:00:00,2.5,False\n"
        b"2000-01-01T02:00:00,3.5,1\n"
        b"2000-01-01T03:00:00,4.5,maybe\n"
    )
    items = list(parsing.parse_csv(io.BytesIO(content), "f.csv", 0, config))
    batches = [i[1] for i in items if not isinstance(i, Rejection)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert [b.values.tolist() for b in batches] == [[[1.5, 1.0], [2.5, 0.0], [3.5, 1.0]]]
    assert [(r.reason, r.position) for r in rejected] == [(rec.NON_NUMERIC, 5)]
    assert "true/false" in rejected[0].message

    path = tmp_path / "s.parquet"
    stamps = ["2000-01-01T00:00:00", "2000-01-01T01:00:00"]
    pq.write_table(
        pa.table({"timestamp": stamps, "value": [1.0, 2.0], "holiday": [False, True]}), path
    )
    with open(path, "rb") as handle:
        items = list(parsing.parse_parquet(handle, str(path), 0, config))
    assert [i[1].values.tolist() for i in items if not isinstance(i, Rejection)] == [
        [[1.0, 0.0], [2.0, 1.0]]
    ]


def test_only_plain_ascii_numbers_and_timestamps_are_read() -> None:
    """float() and fromisoformat() also take "1_000", Arabic-Indic digits or a trailing NUL;
    those rows were accepted as 1000.0, 12.0 and a valid time. Now they are rejected."""
    content = (
        "timestamp,value\n"
        "2000-01-01T00:00:00,1e3\n"
        "2000-01-01T01:00:00,-.5\n"
        "2000-01-01T02:00:00,+2.\n"
        "2000-01-01T03:00:00,1_000\n"
        "2000-01-01T04:00:00,١٢\n"
        "2000-01-01T05:00:00,nan\n"
        "2000-01-01T06:00:00\x00,7\n"
        "2000-01-01T07:00:00,8\n"
    ).encode()
    items = list(parsing.parse_csv(io.BytesIO(content), "f.csv", 0, cfg()))
    values = [v for i in items if not isinstance(i, Rejection) for v in i[1].values.ravel()]
    rejected = [(r.reason, r.position) for r in items if isinstance(r, Rejection)]
    assert values == [1000.0, -0.5, 2.0, 8.0]
    assert rejected == [
        (rec.NON_NUMERIC, 5),
        (rec.NON_NUMERIC, 6),
        (rec.NON_FINITE, 7),
        (rec.BAD_TIMESTAMP, 8),
    ]
