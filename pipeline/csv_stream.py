"""Streaming a CSV file record by record, in sync with its quoting, with each record's raw text.

The ingest parsers read a CSV file of any size and must (1) never lose track of where a record
starts, whatever a bad record holds, (2) quote a rejected record exactly as it was in the file
(quotes and embedded newlines included) with the line it started on, and (3) reject a record
over the size limit as ONE record without holding all of it.

csv.reader cannot do (1) and (3): after an error (a field over its 128 KiB limit, a stray
quote) it resumes at the next physical line, which may lie inside a quoted field, and then
reads the rest of that field as thousands of bogus rows. So framing is done here instead:
`read_records` tracks RFC 4180 quote state line by line (a quoted field starts with `"` at the
start of a field and ends at a `"` that is not doubled), so a record always ends at a line
break outside quotes. A quote error inside a record does not stop framing: the text after a
closing quote that is not followed by `,` or a line break is read as unquoted (as a lenient
reader would), and the record is then reported malformed as a whole. Each complete record under
the limit is split into fields by `split_fields` (strict RFC 4180, the same fields
csv.reader(strict=True) gives).

A record ends at `\\n` or `\\r\\n` outside quotes, never at a lone `\\r` (docs/ingest.md): a lone
carriage return outside quotes makes its record malformed (split_fields says so, with how to
fix it) instead of cutting it in two, and a first record holding one is a file with old-Mac
`\\r` line endings (`cr_line_endings_problem`), which the callers refuse as a whole. A `\\r`
inside a quoted field is kept in the field.

`csv_text` decodes the bytes so that invalid UTF-8 survives as lone surrogates (the record
holding them can be rejected as undecodable and the rest of the file still parses). Pure Python.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Generator, Iterable, Iterator
from typing import IO, NamedTuple

from seqline.pipeline.record_size import text_bytes

QUOTE = '"'
# The inside of a quoted field up to its closing quote (or the end of the line): anything but
# a quote, or a doubled quote. Unrolled so the regex engine never backtracks.
_QUOTED_TEXT = re.compile(r'[^"]*(?:""[^"]*)*')
# csv.reader's default field size limit: a record no longer than it cannot hit the limit.
CSV_MODULE_MAX_CHARS = 131_072
DELIMITER = ","


def csv_text(stream: IO[bytes]) -> io.TextIOWrapper:
    """A text view of a CSV file's bytes: UTF-8 with a leading BOM ignored, undecodable bytes
    kept as surrogates (errors="surrogateescape"), lines split at \\n only (so \\r\\n too, never
    at a lone \\r) and kept with their line break, untranslated (newline="\\n")."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="\n")


class CsvError(ValueError):
    """A record that breaks RFC 4180 quoting (the message says where)."""


class CsvRecord(NamedTuple):
    """One framed CSV record.

    Attributes:
        line: 1-based line number the record starts on.
        fields: the fields ([] for a blank line), or None when `error` is set or `too_large`.
        raw: the record's text without its final line break; for a too-large record only its
            first `keep_chars` characters.
        size: bytes of the whole record in the file (UTF-8, final line break excluded).
        error: why the record is malformed (quoting), else None.
        too_large: size > max_record_bytes (then the record is neither split nor checked).
    """

    line: int
    fields: list[str] | None
    raw: str
    size: int
    error: str | None
    too_large: bool


def _line_break_length(line: str) -> int:
    """Length of the line break that ends `line` (the last line of a record): a \n with the
    carriage returns right before it (\r\n, and the \r\r\n Python's csv.writer writes on
    Windows to a file opened without newline=""), or the carriage returns the file's last line
    ends with (csv.reader drops those too). Any other \r is not a line break."""
    body = line[:-1] if line.endswith("\n") else line
    return len(line) - len(body.rstrip("\r"))


CR_LINE_ENDINGS_FIX = (
    "CSV records end at \\n or \\r\\n only, so a file with \\r line endings must be converted "
    "first (e.g. `tr '\\r' '\\n' < FILE > NEW_FILE`), and a carriage return inside a cell must be "
    "in a quoted field"
)


def unquoted_cr(record: str) -> int | None:
    """0-based index of the first carriage return outside quoted fields in `record` (one
    record, or the beginning of one, without its final line break), or None. Lenient as
    ends_inside_quotes: text after a closing quote up to the next delimiter is unquoted."""
    if "\r" not in record:
        return None
    i, n = 0, len(record)
    while True:
        if record.startswith(QUOTE, i):  # a quoted field: skip to its closing quote
            j = _QUOTED_TEXT.match(record, i + 1).end()  # type: ignore[union-attr]
            if j == n:
                return None  # open to the end: the rest is inside quotes
            i = j + 1
        k = record.find(DELIMITER, i)
        cr = record.find("\r", i, n if k < 0 else k)
        if cr >= 0:
            return cr
        if k < 0:
            return None
        i = k + 1


def _lone_cr_message(index: int) -> str:
    return f"a carriage return (\\r) outside quotes at character {index + 1}: {CR_LINE_ENDINGS_FIX}"


def cr_line_endings_problem(record: CsvRecord) -> str | None:
    """For a file's first record (its header): why the file looks like one with old-Mac \\r
    line endings (its first record holds a \\r outside quotes, so the whole file would be that
    one record), with how to convert it; None otherwise. Callers refuse such a file."""
    index = unquoted_cr(record.raw)
    if index is None:
        return None
    return (
        f"expected lines ending in \\n or \\r\\n, but the first record (line {record.line}) holds "
        f"a carriage return (\\r) outside quotes at character {index + 1}, so the file looks "
        "like it has old-Mac \\r line endings and would be read as one record; convert it "
        "first, e.g. `tr '\\r' '\\n' < FILE > NEW_FILE` (a carriage return inside a header name "
        "must be in a quoted field)"
    )


def ends_inside_quotes(line: str, in_quotes: bool) -> bool:
    """Whether a record is still inside a quoted field after `line` (one physical line, its
    line break included), given whether it was at the start of the line. Lenient: text after
    a closing quote that is not a delimiter is read as unquoted up to the next delimiter."""
    if QUOTE not in line:  # no quote can open or close: the state carries over
        return in_quotes
    i = 0
    while True:
        if in_quotes:
            j = _QUOTED_TEXT.match(line, i).end()  # type: ignore[union-attr]  # always matches
            if j == len(line):
                return True
            in_quotes = False  # line[j] is the closing quote
            k = line.find(DELIMITER, j + 1)  # the next field starts after the next delimiter
            if k < 0:
                return False
            i = k + 1
        # At the start of a field: it is quoted iff its first character is a quote.
        if line.startswith(QUOTE, i):
            in_quotes = True
            i += 1
            continue
        k = line.find(DELIMITER + QUOTE, i)
        if k < 0:
            return False
        in_quotes = True
        i = k + 2


def split_fields(record: str) -> list[str]:
    """The fields of one complete record (no final line break), RFC 4180 as csv.reader with
    strict=True reads it: [] for an empty record; quotes only delimit a field that starts with
    one, `""` inside it is a quote. Raises CsvError for text after a closing quote other than a
    delimiter, for a quoted field that is never closed, and for a carriage return outside
    quotes (csv.reader refuses it too, except at the very end, which it drops silently)."""
    if not record:
        return []
    if "\r" in record:
        index = unquoted_cr(record)
        if index is not None:
            raise CsvError(_lone_cr_message(index))
    if QUOTE not in record:
        return record.split(DELIMITER)
    if len(record) <= CSV_MODULE_MAX_CHARS:
        # The C parser is faster and reads the same fields; its errors get our message below.
        with contextlib.suppress(csv.Error):
            return next(csv.reader((record,), strict=True))
    fields: list[str] = []
    i = 0
    n = len(record)
    while True:
        if record.startswith(QUOTE, i):
            parts: list[str] = []
            j = i + 1
            while True:
                k = record.find(QUOTE, j)
                if k < 0:
                    raise CsvError(f"unclosed quoted field starting at character {i + 1}")
                if record.startswith(QUOTE, k + 1):
                    parts.append(record[j : k + 1])
                    j = k + 2
                    continue
                parts.append(record[j:k])
                break
            fields.append("".join(parts))
            i = k + 1
            if i == n:
                return fields
            if record[i] != DELIMITER:
                raise CsvError(
                    f"expected ',' or the end of the record after the closing quote at "
                    f"character {k + 1}, got {record[i]!r}"
                )
            i += 1
        else:
            k = record.find(DELIMITER, i)
            if k < 0:
                fields.append(record[i:])
                return fields
            fields.append(record[i:k])
            i = k + 1


def read_records(
    lines: Iterable[str], max_record_bytes: int, keep_chars: int
) -> Iterator[CsvRecord]:
    """Frames `lines` (e.g. `csv_text(stream)`, lines with their line breaks) into records.

    Args:
        lines: the file's physical lines, line breaks kept.
        max_record_bytes: a record over this many bytes is reported `too_large`, unsplit.
        keep_chars: how many characters of a too-large record's text to keep in `raw`.

    Yields every record in file order, blank lines included (fields []); the lines of all
    records together are exactly the file's lines. A quoted field still open at the end of
    the file is a stray quote, not a record: the line it opened on is reported malformed and
    the lines after it are framed again as records of their own, so one stray quote costs one
    line, not the rest of the file. (When what follows the quote is over max_record_bytes it
    is no longer held; that one too-large record then names the lines it spans.)
    """
    numbered: Iterator[tuple[int, str]] | None = enumerate(lines, start=1)
    while numbered is not None:
        numbered = yield from _frame(numbered, max_record_bytes, keep_chars)


def _frame(
    numbered: Iterator[tuple[int, str]], max_record_bytes: int, keep_chars: int
) -> Generator[CsvRecord, None, Iterator[tuple[int, str]] | None]:
    """Frames (line number, line) pairs as read_records describes; returns the lines left to
    frame again after a stray quote, else None."""
    parts: list[str] = []
    kept = 0  # characters held in parts
    size = 0
    too_large = False
    start = 1
    in_quotes = False
    last, last_number = "", 0
    for line_number, line in numbered:
        if not in_quotes:  # a new record starts on this line
            start = line_number
            parts = []
            kept = size = 0
            too_large = False
        if QUOTE in line:
            in_quotes = ends_inside_quotes(line, in_quotes)
        size += len(line) if line.isascii() else text_bytes(line)
        if (
            not too_large
            and size > max_record_bytes
            and (size - _line_break_length(line) > max_record_bytes)
        ):
            too_large = True
        if too_large:
            if kept < keep_chars:
                parts.append(line[: keep_chars - kept])
                kept += len(parts[-1])
        else:
            parts.append(line)
            kept += len(line)
        last, last_number = line, line_number
        if not in_quotes:
            yield _finish(start, parts, size - _line_break_length(line), too_large, None)
    if not in_quotes:
        return None
    if too_large:
        yield _finish(
            start, parts, size - _line_break_length(last), too_large,
            f"unclosed quoted field: the file ends inside a quoted field opened on line "
            f"{start}, so lines {start}-{last_number} ({last_number - start + 1} lines) are "
            f"this one record, over max_record_bytes; look for a stray quote on line {start}",
        )  # fmt: skip
        return None
    first = parts[0]
    yield _finish(
        start, [first], text_bytes(first) - _line_break_length(first), False,
        f"unclosed quoted field: the quote opened on line {start} is never closed before the "
        f"end of the file; this line is rejected and the {len(parts) - 1} lines after it are "
        "read as records of their own",
    )  # fmt: skip
    return iter(list(enumerate(parts[1:], start=start + 1)))


def _finish(
    start: int, parts: list[str], size: int, too_large: bool, error: str | None
) -> CsvRecord:
    raw = parts[0] if len(parts) == 1 else "".join(parts)
    cut = _line_break_length(raw)
    if not too_large or text_bytes(raw) - cut == size:  # the whole record: drop its break
        raw = raw[: len(raw) - cut]
    if too_large:
        return CsvRecord(start, None, raw, size, error, True)
    if error is not None:
        return CsvRecord(start, None, raw, size, error, False)
    try:
        fields = split_fields(raw)
    except CsvError as err:
        return CsvRecord(start, None, raw, size, str(err), False)
    return CsvRecord(start, fields, raw, size, None, False)
