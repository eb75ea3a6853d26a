"""The one record-size limit of every ingest format, and how an oversized record is reported.

A record is what one input unit of a format holds: a CSV record (its line(s), quoted newlines
included, without the final line break), a JSONL line (without its line break), an aclImdb
review file, a series CSV row, or the text cells of a Parquet row. Its size is counted in bytes
as stored (UTF-8), and a record over `max_record_bytes` (default DEFAULT_MAX_RECORD_BYTES, the
same for every format) becomes exactly one rejection with reason `record_too_large`: its
message gives the size and the limit, its `record` keeps the first characters followed by a
"...[truncated: N bytes in all]" note. Parsers never hold more of such a record than the excerpt
(beyond the one physical line being read).

Pure Python; the parsers and config classes import it.
"""

from __future__ import annotations

import codecs

from seqline.pipeline.errors import ConfigError

DEFAULT_MAX_RECORD_BYTES = 1_048_576  # 1 MiB: 70x the longest IMDB review
RECORD_TOO_LARGE = "record_too_large"


def check_max_record_bytes(value: object) -> None:
    """Raises ConfigError unless `value` is an int >= 1 (the `max_record_bytes` config field)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"max_record_bytes: expected a number of bytes >= 1, got {value!r}; the default "
            f"is {DEFAULT_MAX_RECORD_BYTES} (1 MiB), e.g. max_record_bytes: 4194304 for 4 MiB"
        )


def text_bytes(text: str) -> int:
    """Bytes of `text` as stored in a UTF-8 file (surrogateescape'd bytes count as one)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogateescape"))


def too_large_message(size: int, limit: int) -> str:
    """The rejection message: size, limit, and how to raise the limit."""
    return (
        f"record is {size} bytes, over the max_record_bytes limit of {limit}; raise "
        "max_record_bytes in the component config if records this large are expected"
    )


def decode_head(head: bytes) -> str:
    """The first bytes of a record as text for an excerpt: a multi-byte character cut at the
    end is dropped; undecodable bytes survive as surrogates (see quarantine.record_text)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    return decoder.decode(head, final=False)


def excerpt(head: str | bytes, max_chars: int) -> str:
    """At most `max_chars` characters from the start of a record (bytes decoded as in
    decode_head)."""
    text = head if isinstance(head, str) else decode_head(head[: 4 * max_chars])
    return text[:max_chars]


def truncated_note(size: int) -> str:
    """What follows the excerpt of an oversized record in its rejection's `record`."""
    return f"...[truncated: {size} bytes in all]"
