"""Property-based fuzzing of the ingest parsers (CSV and JSONL text, series CSV).

Each example writes a file of generated records, each valid or broken in one known way (a
wrong label, a quote error, a record over the size limit, undecodable bytes, a NUL, a wrong column
count...), blank lines between them, and checks the accounting contract:

    accepted + rejected == records written (exactly; blank lines are not records)
    every valid record is accepted, with its values, in order
    every invalid record is rejected with the expected reason, at its first line,
    keeping its raw text (an excerpt plus its size for a record over the limit)
    line numbers count \n line breaks only: a lone \r outside quotes makes its record
    malformed_csv (never two records), one inside a quoted field stays in the field

Bounded for CI: max_examples and a per-example deadline keep this file under ~30 s.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqline.components.ingest_series import parsing as series_parsing
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.records import FLOAT32_OVERFLOW, OUT_OF_RANGE
from seqline.components.ingest_text import parsing as text_parsing
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.records import Record
from seqline.pipeline.quarantine import NUL_CHARACTER, Rejection
from seqline.pipeline.record_size import RECORD_TOO_LARGE

LIMIT = 400  # bytes; every generated valid record is well under it
FUZZ = settings(
    max_examples=200,
    deadline=dt.timedelta(seconds=2),
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LINE_BREAK = re.compile(r"\r?\n")  # a CSV/JSONL record never ends at a lone \r

# Any text a user may write: no lone surrogates (they cannot be stored as UTF-8) and no NUL
# (a record holding one is rejected as nul_character, a kind of its own below).
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=25,
).filter(lambda t: bool(t.strip()))
terminators = st.sampled_from(["\n", "\r\n"])


@dataclass(frozen=True)
class Case:
    """One written record: its bytes (line break included), and what parsing must give."""

    data: bytes
    reason: str | None  # None: must be accepted
    expected: tuple = ()  # accepted values (text, label) or (timestamp, value)


def csv_row(fields: list[str], terminator: str) -> str:
    """RFC 4180 with minimal quoting (csv.writer would leave a bare \r unquoted when the
    line terminator is \n, and a bare \r outside quotes makes a record malformed)."""
    return ",".join(quoted(f) if any(c in f for c in ',"\r\n') else f for f in fields) + terminator


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def lines_in(data: bytes) -> int:
    return len(LINE_BREAK.findall(data.decode("utf-8", "surrogateescape")))


def raw_of(case: Case) -> str:
    """The `record` a rejection of this case keeps: its text without the final line break,
    or the repr of its bytes when they are not UTF-8."""
    body = case.data[: len(case.data) - (2 if case.data.endswith(b"\r\n") else 1)]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return repr(body)


def check(cases: list[Case], blank_before: list[bool], items: list, first_line: int) -> None:
    """The accounting contract over parsed `items` (Records/accepted values and Rejections)."""
    assert len(items) == len(cases)  # accepted + rejected == records written
    line = first_line
    for case, blank, item in zip(cases, blank_before, items, strict=True):
        line += blank
        if case.reason is None:
            assert not isinstance(item, Rejection), (case, item)
            assert item[1:] == case.expected
        else:
            assert isinstance(item, Rejection), (case, item)
            assert item.reason == case.reason and item.message
            assert item.position == line
            if case.reason == RECORD_TOO_LARGE:
                assert raw_of(case).startswith(item.record.split("...[truncated: ")[0])
                assert item.record.endswith(
                    f"[truncated: {len(raw_of(case).encode())} bytes in all]"
                )
            else:
                assert item.record == raw_of(case)
            item = None
        line += lines_in(case.data)


# --- text CSV ---------------------------------------------------------------------------------


@st.composite
def text_csv_case(draw: st.DrawFn) -> Case:
    text, end = draw(texts), draw(terminators)
    label = draw(st.sampled_from(["pos", "neg", " pos ", "neg\t"]))
    kind = draw(
        st.sampled_from(
            ["valid", "valid", "valid", "unknown_label", "empty_text", "wrong_column_count",
             "malformed_csv", "lone_cr", RECORD_TOO_LARGE, "undecodable_bytes",
             NUL_CHARACTER]
        )
    )  # fmt: skip
    if kind == "valid":
        return Case(csv_row([text, label], end).encode(), None, (text, label.strip()))
    if kind == NUL_CHARACTER:  # a NUL spliced into the text (quoted or not)
        return Case(csv_row([text + "\x00z", label], end).encode(), kind)
    if kind == "lone_cr":  # a bare \r in an unquoted cell: one malformed record, not two
        cell = "x" + "".join(c for c in text if c not in ',"\r\n')
        return Case(f"{cell}\r{cell},{label}{end}".encode(), "malformed_csv")
    if kind == "unknown_label":
        return Case(csv_row([text, "maybe"], end).encode(), kind)
    if kind == "empty_text":
        return Case(csv_row([" " * draw(st.integers(0, 3)), label], end).encode(), kind)
    if kind == "wrong_column_count":
        fields = draw(st.sampled_from([[text], [text, label, text]]))
        return Case(csv_row(fields, end).encode(), kind)
    if kind == "malformed_csv":  # text after a closing quote
        return Case(f"{quoted(text)}x,{label}{end}".encode(), kind)
    if kind == RECORD_TOO_LARGE:  # a multi-line quoted field full of commas and quotes
        big = f'{text}, "a",\n' * (LIMIT // 8)
        return Case(f"{quoted(big)},{label}{end}".encode(), kind)
    data = f"{quoted(text)}".encode()[:-1] + b'\xff",' + label.encode() + end.encode()
    return Case(data, "undecodable_bytes")


@FUZZ
@given(
    st.lists(st.tuples(text_csv_case(), st.booleans()), max_size=12),
    st.one_of(st.none(), texts),
)
def test_text_csv_accounts_for_every_record(cases_blanks: list, unclosed: str | None) -> None:
    cases = [c for c, _ in cases_blanks]
    blanks = [b for _, b in cases_blanks]
    if unclosed is not None:
        # A quote still open at the end of the file costs its own line only; what follows
        # (no quote in it, or that quote would close the stray one) is read as records again.
        line = "".join(c for c in unclosed if c not in '"\r\n')
        cases.append(Case(f'"{line},pos\n'.encode(), "malformed_csv"))
        cases.append(Case(b"read again,pos\n", None, ("read again", "pos")))
        blanks += [False, False]
    body = b"".join(
        (b"\n" if blank else b"") + c.data for c, blank in zip(cases, blanks, strict=True)
    )
    config = IngestTextConfig(source="f.csv", labels=("neg", "pos"), max_record_bytes=LIMIT)
    items = [
        (i, i.text, i.label) if isinstance(i, Record) else i
        for i in text_parsing.parse_csv(io.BytesIO(b"text,label\n" + body), "f.csv", config)
        if isinstance(i, Record | Rejection)
    ]
    check(cases, blanks, items, first_line=2)


# --- text JSONL -------------------------------------------------------------------------------


@st.composite
def jsonl_case(draw: st.DrawFn) -> Case:
    text, ascii_only = draw(texts), draw(st.booleans())
    label = draw(st.sampled_from(["pos", "neg", " pos "]))
    kind = draw(
        st.sampled_from(
            ["valid", "valid", "valid", "unknown_label", "empty_text", "malformed_json",
             "not_object", "wrong_type", RECORD_TOO_LARGE, "undecodable_bytes",
             NUL_CHARACTER]
        )
    )  # fmt: skip

    def line(obj: object) -> bytes:
        return json.dumps(obj, ensure_ascii=ascii_only).encode() + b"\n"

    if kind == "valid":
        return Case(line({"text": text, "label": label}), None, (text, label.strip()))
    if kind == "unknown_label":
        return Case(line({"text": text, "label": "maybe"}), kind)
    if kind == NUL_CHARACTER:  # json.dumps writes it as a \u0000 escape
        return Case(line({"text": text + "\x00", "label": label}), kind)
    if kind == "empty_text":
        return Case(line({"text": " ", "label": label}), kind)
    if kind == "malformed_json":
        return Case(line({"text": text, "label": label})[:-2] + b"\n", kind)
    if kind == "not_object":
        return Case(line([text, label]), "malformed_json")
    if kind == "wrong_type":
        return Case(line({"text": len(text), "label": label}), kind)
    if kind == RECORD_TOO_LARGE:
        return Case(line({"text": (text + "\n") * LIMIT, "label": label}), kind)
    escaped = json.dumps(text)[1:-1].encode()
    return Case(b'{"text": "\xff' + escaped + b'", "label": "pos"}\n', "undecodable_bytes")


@FUZZ
@given(st.lists(st.tuples(jsonl_case(), st.booleans()), max_size=12))
def test_text_jsonl_accounts_for_every_record(cases_blanks: list) -> None:
    cases = [c for c, _ in cases_blanks]
    blanks = [b for _, b in cases_blanks]
    body = b"".join(
        (b"  \n" if blank else b"") + c.data for c, blank in zip(cases, blanks, strict=True)
    )
    config = IngestTextConfig(
        source="f.jsonl", format="jsonl", labels=("neg", "pos"), max_record_bytes=LIMIT
    )
    items = [
        (i, i.text, i.label) if isinstance(i, Record) else i
        for i in text_parsing.parse_jsonl(io.BytesIO(body), "f.jsonl", config)
        if isinstance(i, Record | Rejection)
    ]
    check(cases, blanks, items, first_line=1)


# --- series CSV -------------------------------------------------------------------------------


@st.composite
def series_case(draw: st.DrawFn) -> Case:
    stamp = draw(st.integers(0, 2_000_000_000))
    value = draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
    end = draw(terminators)
    kind = draw(
        st.sampled_from(
            ["valid", "valid", "valid", "bad_timestamp", "missing_timestamp", "non_numeric",
             "non_finite", "missing_value", "wrong_column_count", "malformed_csv", "lone_cr",
             RECORD_TOO_LARGE, "undecodable_bytes"]
        )
    )  # fmt: skip
    cells = [str(stamp), repr(value)]
    if kind == "valid":
        iso = draw(st.booleans())
        if iso:
            cells[0] = dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if abs(value) >= FLOAT32_OVERFLOW:  # inf in the float32 windows: out_of_range
            return Case(csv_row(cells, end).encode(), OUT_OF_RANGE)
        return Case(csv_row(cells, end).encode(), None, (stamp * 1_000_000, value))
    if kind == "bad_timestamp":
        cells[0] = draw(st.sampled_from(["yesterday", "2000-13-45", "12:00"]))
    elif kind == "missing_timestamp":
        cells[0] = " "
    elif kind == "non_numeric":
        cells[1] = draw(st.sampled_from(["abc", "1.2.3", "--1", "one"]))
    elif kind == "non_finite":
        cells[1] = draw(st.sampled_from(["nan", "inf", "-Infinity", "1e999"]))
        if cells[1] == "1e999":  # a finite number beyond float64, not an infinity
            return Case(csv_row(cells, end).encode(), OUT_OF_RANGE)
    elif kind == "missing_value":
        cells[1] = ""
    elif kind == "wrong_column_count":
        cells.append("extra")
    elif kind == "malformed_csv":
        return Case(f'{cells[0]},"{cells[1]}"x{end}'.encode(), kind)
    elif kind == "lone_cr":  # a bare \r after the value: one malformed row, not two
        return Case(f"{cells[0]},{cells[1]}\r{cells[0]}{end}".encode(), "malformed_csv")
    elif kind == RECORD_TOO_LARGE:
        big = "1,\n" * LIMIT
        return Case(f'{cells[0]},"{big}"{end}'.encode(), kind)
    else:
        return Case(f"{cells[0]},{cells[1]}".encode() + b"\xff" + end.encode(), kind)
    return Case(csv_row(cells, end).encode(), kind)


@FUZZ
@given(st.lists(st.tuples(series_case(), st.booleans()), max_size=12))
def test_series_csv_accounts_for_every_row(cases_blanks: list) -> None:
    cases = [c for c, _ in cases_blanks]
    blanks = [b for _, b in cases_blanks]
    body = b"".join(
        (b"\r\n" if blank else b"") + c.data for c, blank in zip(cases, blanks, strict=True)
    )
    config = IngestSeriesConfig(source="f.csv", frequency="1h", max_record_bytes=LIMIT)
    accepted: dict[int, tuple] = {}
    rejected: dict[int, Rejection] = {}
    for item in series_parsing.parse_csv(io.BytesIO(b"timestamp,value\n" + body), "f", 0, config):
        if isinstance(item, Rejection):
            rejected[item.position] = item
        else:
            batch = item[1]
            for pos, micros, values in zip(
                batch.positions, batch.timestamps, batch.values, strict=True
            ):
                accepted[int(pos)] = (None, int(micros), float(values[0]))
    # Items in file order: accepted points and rejections, keyed by first line.
    items = [accepted.get(p) or rejected[p] for p in sorted({**accepted, **rejected})]
    check(cases, blanks, items, first_line=2)
