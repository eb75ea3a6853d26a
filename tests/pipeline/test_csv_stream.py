"""pipeline/csv_stream.py: framing CSV records in sync with their quoting, raw text, size cap."""

from __future__ import annotations

import csv
import io
import itertools

import pytest

from seqline.pipeline.csv_stream import (
    CsvError,
    cr_line_endings_problem,
    csv_text,
    read_records,
    split_fields,
)
from seqline.pipeline.quarantine import has_surrogates


def _records(data: bytes, limit: int = 1 << 20, keep: int = 100) -> list:
    return list(read_records(csv_text(io.BytesIO(data)), limit, keep))


def test_records_keep_raw_text_first_line_and_fields() -> None:
    rows = [
        (r.line, r.fields, r.raw) for r in _records(b'\xef\xbb\xbfa,b\n"multi\r\nline",2\n\nx,y\n')
    ]
    assert rows == [
        (1, ["a", "b"], "a,b"),
        (2, ["multi\r\nline", "2"], '"multi\r\nline",2'),
        (4, [], ""),
        (5, ["x", "y"], "x,y"),
    ]


def test_undecodable_bytes_stay_in_their_record_only() -> None:
    rows = _records(b"a,b\nbad\xff,1\ngood,2\n")
    assert [has_surrogates("".join(r.fields)) for r in rows] == [False, True, False]
    assert (rows[2].line, rows[2].fields) == (3, ["good", "2"])


def test_a_quote_error_is_one_record_and_framing_follows_the_quotes_after_it() -> None:
    # A lenient reader reads `y` as unquoted text; the quoted field after it spans two lines.
    rows = _records(b'a,b\n"x"y,"multi\nline"\nok,2\n')
    assert [(r.line, r.error is not None) for r in rows] == [(1, False), (2, True), (4, False)]
    assert rows[1].raw == '"x"y,"multi\nline"' and rows[1].fields is None
    assert rows[2].fields == ["ok", "2"]


def test_an_oversized_multiline_field_is_one_record_with_its_size_and_a_short_excerpt() -> None:
    big = b'"' + b"word, " * 100 + b'\n"" quoted ""\n' * 50 + b'",pos'
    rows = _records(b"text,label\n" + big + b"\nnext,neg\n", limit=200, keep=20)
    assert [r.line for r in rows] == [1, 2, 103]  # 50 fields of two line breaks each
    assert rows[1].too_large and rows[1].fields is None
    assert rows[1].size == len(big) and rows[1].raw == big[:20].decode()
    assert rows[2].fields == ["next", "neg"]


def test_a_quote_left_open_costs_its_line_and_the_lines_after_it_are_framed_again() -> None:
    # The stray quote on line 2 would have swallowed every later row into one rejection.
    rows = _records(b'a,b\n"open,1\nx,2\n\ny,4\n')
    assert [(r.line, r.fields) for r in rows] == [
        (1, ["a", "b"]),
        (2, None),
        (3, ["x", "2"]),
        (4, []),
        (5, ["y", "4"]),
    ]
    assert rows[1].raw == '"open,1' and rows[1].size == len('"open,1')
    assert "quote opened on line 2 is never closed" in rows[1].error
    assert "the 3 lines after it are read as records of their own" in rows[1].error
    # A later quote closes the stray one instead (the lines between are one malformed record):
    # quotes pair up, so only a quote still open at the end of the file is known to be stray.
    rows = _records(b'a,b\n"open,1\nx,2\n"y",3\n')
    assert [(r.line, r.raw) for r in rows] == [(1, "a,b"), (2, '"open,1\nx,2\n"y",3')]
    assert rows[1].error is not None


def test_a_quote_left_open_over_the_size_limit_names_the_lines_it_swallowed() -> None:
    # Past max_record_bytes the lines are no longer held, so they cannot be framed again.
    data = b'a,b\n"open,1\n' + b"x,2\n" * 100
    rows = _records(data, limit=50, keep=10)
    assert len(rows) == 2 and rows[1].too_large and rows[1].fields is None
    assert "lines 2-102 (101 lines) are this one record" in rows[1].error
    assert "stray quote on line 2" in rows[1].error


def test_size_counts_utf8_bytes_without_the_final_line_break() -> None:
    rows = _records("é,ü\r\n".encode())
    assert rows[0].size == 5
    assert not _records("é,ü\n".encode(), limit=5)[0].too_large
    assert _records("é,ü\n".encode(), limit=4)[0].too_large


def test_a_lone_cr_outside_quotes_makes_one_malformed_record_and_lines_count_newlines() -> None:
    # The probe's file: the bare \r used to end a line, so `cr,neg` became a record of its own
    # (accepted with a label) and every later line number was one too high.
    rows = _records(b"text,label\nfirst,pos\nlone\rcr,neg\nthird,pos\r\nend\r")
    assert [(r.line, r.fields, r.raw) for r in rows] == [
        (1, ["text", "label"], "text,label"),
        (2, ["first", "pos"], "first,pos"),
        (3, None, "lone\rcr,neg"),
        (4, ["third", "pos"], "third,pos"),
        (5, ["end"], "end"),  # carriage returns ending the file end it, as in csv.reader
    ]
    assert rows[2].size == len("lone\rcr,neg")
    assert "carriage return (\\r) outside quotes at character 5" in rows[2].error
    assert "tr '\\r' '\\n'" in rows[2].error and "quoted field" in rows[2].error
    # Inside quotes a \r is kept in the field; after a closing quote it is outside.
    rows = _records(b'a,b\n"x\ry",1\n"q"\r,2\n')
    assert [(r.line, r.fields) for r in rows] == [(1, ["a", "b"]), (2, ["x\ry", "1"]), (3, None)]
    assert "outside quotes at character 4" in rows[2].error


def test_a_file_with_cr_line_endings_is_one_record_that_says_how_to_convert_it() -> None:
    rows = _records(b"text,label\rfoo,pos\rbar,neg\r")
    assert len(rows) == 1 and rows[0].fields is None
    problem = cr_line_endings_problem(rows[0])
    assert problem is not None
    assert "old-Mac \\r line endings" in problem and "tr '\\r' '\\n'" in problem
    # Over the size limit only its beginning is kept, and that is enough to tell.
    big = _records(b"text,label\r" + b"foo,pos\r" * 100, limit=50, keep=20)
    assert big[0].too_large and cr_line_endings_problem(big[0]) is not None
    # A \r inside a quoted header name, CRLF line ends, the \r\r\n csv.writer writes on
    # Windows without newline="", or a header-only file ending in \r are no such file.
    for data in (
        b'"te\rxt",label\nx,pos\n',
        b"text,label\r\nx,pos\r\n",
        b"text,label\r\r\nx,pos\r\r\n",
        b"text,label\r",
    ):
        assert cr_line_endings_problem(_records(data)[0]) is None


def test_carriage_returns_before_a_newline_or_at_the_end_are_the_line_break() -> None:
    # \r\r\n: Python's csv.writer on Windows, file opened without newline="". Read as
    # csv.reader reads it (its rows, between blank records ingest skips), nothing rejected.
    data = "text,label\r\r\ngood movie,pos\r\r\nbad movie,neg\r\r\n"
    rows = _records(data.encode())
    expected = [row for row in csv.reader(io.StringIO(data, newline="")) if row]
    assert [r.fields for r in rows] == expected
    assert [r.line for r in rows] == [1, 2, 3]
    assert all(r.error is None for r in rows)
    # A stray \r ending a file (one cut short after CRLF rows) is no record.
    rows = _records(b"a,b\r\n1,2\r\n\r")
    assert [r.fields for r in rows] == [["a", "b"], ["1", "2"], []]


def _csv_module(record: str) -> list[str] | str:
    try:
        return next(csv.reader([record], strict=True), [])
    except csv.Error:
        return "error"


def test_split_fields_agrees_with_csv_reader_strict_on_every_short_record() -> None:
    for n in range(7):
        for chars in itertools.product('a,"', repeat=n):
            record = "".join(chars)
            try:
                ours: list[str] | str = split_fields(record)
            except CsvError:
                ours = "error"
            assert ours == _csv_module(record), record


def test_split_fields_refuses_a_cr_outside_quotes_wherever_csv_reader_does() -> None:
    # csv.reader refuses a \r outside quotes except at the very end, which it drops silently;
    # with a field after it (the `,` added) it refuses that one too: the oracle for ours.
    for n in range(1, 7):
        for chars in itertools.product('a,"\r', repeat=n):
            record = "".join(chars)
            try:
                ours: list[str] | str = split_fields(record)
            except CsvError:
                ours = "error"
            theirs = _csv_module(record + ",")
            assert ours == (theirs if theirs == "error" else theirs[:-1]), record


@pytest.mark.parametrize(
    "line", ['"a""",b\n', 'a,"b\n', '"a","b""\n', 'x"y,"z\n', '"a"b,"\n', ',"\n']
)
def test_quote_state_across_lines_matches_csv_reader(line: str) -> None:
    # Whatever the first line holds, the record ends where csv.reader (non-strict) ends it.
    data = (line + 'tail",9\nnext,1\n').encode()
    expected = [row for row in csv.reader(io.StringIO(data.decode(), newline=""))]
    rows = _records(data)
    assert len(rows) == len(expected)
    assert rows[-1].fields == expected[-1] == ["next", "1"]
