"""Rejected-record accounting shared by the ingest components.

The data contract (DESIGN.md, "Data in, data out"): a bad record never vanishes; it becomes a
`Rejection` written as one JSON line of the RejectedRecords artifact, it is counted by reason,
`input == accepted + rejected` holds exactly, and the component fails with DataError above its
max_reject_ratio. This module holds the parts of that contract that do not depend on what a
record is: the rejected-line shape, the raw text it keeps, the conservation check, the
RejectedRecords properties and the verdict's messages. Keeping the rejected files of a failed
run is the runner's job (`{root}/_failed/{run}/{node}/rejected/`), not this module's.

Each component passes its own name and noun ("record", "row") so its messages read as before.
Pure Python plus seqline.storage.filesystem; no Beam, no TensorFlow at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from seqline.pipeline.errors import DataError
from seqline.storage import filesystem

if TYPE_CHECKING:
    from seqline.pipeline.component import ExecutionContext

# How many reasons a DataError message lists, and how many rejected lines it quotes.
TOP_REASONS = 5
SAMPLE_REJECTIONS = 3
SAMPLE_LINE_CHARS = 300


class Rejection(NamedTuple):
    """A rejected record: where it was (file, 1-based line / record / row number), the reason
    code, a human message, and the raw record (see `record_text`)."""

    source: str
    position: int
    reason: str
    message: str
    record: str

    def to_json(self) -> dict[str, Any]:
        """The rejected-file line: {"source", "position", "reason", "message", "record"}."""
        return self._asdict()


def has_surrogates(text: str) -> bool:
    """True if `text` holds lone surrogates, i.e. bytes that were not valid UTF-8 (decoded with
    surrogateescape) or unpaired \\ud800-style JSON escapes; such text cannot be written."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def first_undecodable_byte(text: str) -> str:
    """Where the first byte that was not valid UTF-8 sits in `text` (decoded with
    surrogateescape), for a rejection message: "byte 0xE9 at character 4 (after 'caf')";
    "" when `text` holds no such byte (a lone surrogate from a JSON escape)."""
    for index, char in enumerate(text):
        if "\udc80" <= char <= "\udcff":
            before = text[max(0, index - 20) : index].encode("utf-8", "replace").decode()
            return f"byte 0x{ord(char) - 0xDC00:02X} at character {index + 1} (after {before!r})"
    return ""


# The reason code, in both ingest components, of a record whose text, label, split, id or
# series id holds a NUL character (U+0000). A NUL in the middle of a text file is almost
# always damage (a corrupt copy, binary data spliced in, a UTF-16 file read as UTF-8), and
# nothing downstream would notice it: the text, NUL and all, would be trained on.
NUL_CHARACTER = "nul_character"


def nul_problem(what: str, value: str, origin: str = "") -> str | None:
    """The message of a nul_character rejection when `value` (the record's `what`: "text",
    "label", "series id"...) holds a NUL character, else None. `origin` says where the NUL
    came from when it was not a byte of the file (" (a \\u0000 escape)")."""
    index = value.find("\x00")
    if index < 0:
        return None
    return (
        f"expected {what} without NUL characters (\\x00), got one{origin} at character "
        f"{index + 1}; "
        "a NUL inside a record usually means a corrupt file or binary data spliced into it: "
        "fix or remove the record in the source"
    )


def record_text(raw: str | bytes, max_chars: int) -> str:
    """The `record` field of a rejection: the raw text, or `repr` of its bytes when they are
    not valid UTF-8 (bytes that do not decode, or str holding surrogateescape'd bytes), cut to
    `max_chars` with a "...[N more characters]" tail."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = repr(raw)
    elif has_surrogates(raw):
        text = repr(raw.encode("utf-8", "surrogateescape"))
    else:
        text = raw
    if len(text) > max_chars:
        text = f"{text[:max_chars]}...[{len(text) - max_chars} more characters]"
    return text


def sorted_reasons(by_reason: Mapping[str, int]) -> dict[str, int]:
    """`by_reason` most frequent first, ties by reason code."""
    return dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])))


def rejected_properties(rejected: int, by_reason: Mapping[str, int]) -> dict[str, Any]:
    """Properties of a RejectedRecords artifact: count and count by reason (most first)."""
    return {"count": int(rejected), "by_reason": sorted_reasons(by_reason)}


def check_conservation(
    component: str, noun: str, n_input: int, accepted: int, rejected: int, detail: str
) -> None:
    """Raises RuntimeError unless n_input == accepted + rejected. A mismatch means records
    were lost or duplicated inside the pipeline: a bug, not a user error.

    Args:
        component: the component's name, first word of the message.
        noun: what is counted, plural ("records", "rows").
        detail: where the accepted count came from, e.g. "splits {'train': 3}".
    """
    if n_input != accepted + rejected:
        raise RuntimeError(
            f"{component} lost track of {noun}: input {n_input} != accepted {accepted} + "
            f"rejected {rejected} ({detail}); please report this bug with the source files"
        )


def top_reasons(by_reason: Mapping[str, int], n: int = TOP_REASONS) -> str:
    """ "code: n, code: n" of the `n` most frequent reasons, or "none"."""
    top = list(sorted_reasons(by_reason).items())[:n]
    return ", ".join(f"{code}: {count}" for code, count in top) or "none"


def _evidence(by_reason: Mapping[str, int], where: str, samples: Sequence[str]) -> str:
    sample_text = "".join(f"\n  {line}" for line in samples)
    return f"top reasons: {top_reasons(by_reason)}; {where}{sample_text}"


def nothing_accepted_error(
    component: str,
    noun: str,
    *,
    counted: str,
    by_reason: Mapping[str, int],
    where: str,
    samples: Sequence[str],
    fix: str,
) -> DataError:
    """The DataError for a run that accepted nothing.

    Args:
        noun: singular ("record", "row").
        counted: the counts in parentheses, e.g. "input 4, rejected 4".
        where: e.g. "rejected rows are in /root/rejected".
        fix: the last line, what the user can change.
    """
    return DataError(
        f"{component}: expected at least one valid {noun}, got none ({counted}); "
        f"{_evidence(by_reason, where, samples)}\n{fix}"
    )


def reject_ratio_error(
    component: str,
    noun: str,
    *,
    n_input: int,
    rejected: int,
    max_reject_ratio: float,
    by_reason: Mapping[str, int],
    where: str,
    samples: Sequence[str],
    fix: str,
) -> DataError | None:
    """The DataError when rejected / n_input > max_reject_ratio (the ratio itself is allowed),
    else None. `noun` is plural here ("records", "rows"); see nothing_accepted_error for the
    other arguments."""
    ratio = rejected / n_input if n_input else 0.0
    if ratio <= max_reject_ratio:
        return None
    return DataError(
        f"{component}: expected at most {max_reject_ratio:.2%} rejected {noun}, got "
        f"{rejected} of {n_input} ({ratio:.2%}); {_evidence(by_reason, where, samples)}\n{fix}"
    )


def sample_rejections(rejected_uri: str, n: int = SAMPLE_REJECTIONS) -> list[str]:
    """The first `n` lines of the rejected JSONL files under `rejected_uri` (for error
    messages), each cut to SAMPLE_LINE_CHARS characters."""
    lines: list[str] = []
    for path in filesystem.walk_files(rejected_uri):
        if not path.endswith(".jsonl"):
            continue
        for line in filesystem.read_text(path).splitlines():
            cut = len(line) > SAMPLE_LINE_CHARS
            lines.append(line[:SAMPLE_LINE_CHARS] + "..." if cut else line)
            if len(lines) >= n:
                return lines
    return lines


def enforce_with_samples(rejected_uri: str, enforce: Callable[[Sequence[str]], None]) -> None:
    """Runs `enforce(samples)` (a component's verdict, raising DataError) with the first
    rejected lines under `rejected_uri`. If it raises, the runner keeps the component's
    outputs, rejected files included, under `{root}/_failed/{run}/{node}/` and adds that folder
    to the error (pipeline/execution.py): components copy nothing themselves."""
    enforce(sample_rejections(rejected_uri))


def enforce_keeping_rejections(
    ctx: ExecutionContext,
    rejected_uri: str,
    component: str,
    enforce: Callable[[Sequence[str]], None],
) -> None:
    """Deprecated: call enforce_with_samples(rejected_uri, enforce); the runner keeps failed
    outputs now. Kept so component modules still calling it work until they switch."""
    del ctx, component
    enforce_with_samples(rejected_uri, enforce)
