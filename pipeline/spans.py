"""Span patterns in ingest sources: which spans exist, and which ones a run reads.

A source such as `data/{span}/*.csv` or `data/{YYYY}-{MM}-{DD}/*.csv` names one folder per span
(a day, a batch number). `find_spans` lists the folders that exist, through the filesystem layer
(so gs:// and s3:// work), and `select_spans` picks the requested span, the latest one, or a
rolling window of the latest N. Each chosen span becomes a concrete source (the pattern with the
tokens filled in) that the ingest components read as before.

Span values: `{span}` gives an int (folder `7` -> 7, `007` -> 7); `{YYYY}`/`{MM}`/`{DD}` give the
ISO date string "YYYY-MM-DD" (the format the Airflow DAG passes as the `span` run parameter).

`span_files` is what an ingest component calls: the chosen spans' files and their values. Both
ingest_text and ingest_series use it, so a pattern, `spans:` and their errors mean the same in
each.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from seqline.pipeline import data_sources
from seqline.pipeline.errors import ConfigError, DataNotReady
from seqline.storage import filesystem

# token -> regex for its digits. {span} is any run of digits; the date parts have fixed widths so
# `{YYYY}{MM}{DD}` (no separators) is unambiguous.
_TOKENS = {"span": r"\d+", "YYYY": r"\d{4}", "MM": r"\d{2}", "DD": r"\d{2}"}
_TOKEN_RE = re.compile(r"\{(span|YYYY|MM|DD)\}")
_DATE_TOKENS = frozenset({"YYYY", "MM", "DD"})

SpanValue = int | str


@dataclass(frozen=True)
class SpansConfig:
    """Which spans of a span-pattern source a run reads (the `spans:` key of an ingest node).

    Attributes:
        span: the span to read: an int for `{span}` patterns, "YYYY-MM-DD" for date patterns;
            usually a run parameter, `span: ${span}`. Default None (the latest span).
        latest: read a rolling window of the latest N spans (ending at `span` when set).
            Default None (one span).
    """

    span: int | str | datetime.date | None = None
    latest: int | None = None

    def __post_init__(self) -> None:
        # YAML reads a bare `span: 2026-12-01` as a date: accept it as the ISO string it means.
        if isinstance(self.span, datetime.datetime):
            raise ConfigError(
                f"span: expected a span number or a date YYYY-MM-DD, got the timestamp "
                f"{self.span.isoformat()!r} (YAML read an unquoted date and time); quote the "
                'day alone, e.g. spans: {span: "2026-12-01"}'
            )
        if isinstance(self.span, datetime.date):
            object.__setattr__(self, "span", self.span.isoformat())
        if self.latest is not None and (isinstance(self.latest, bool) or self.latest < 1):
            raise ConfigError(
                # build_dataclass prefixes the field path (components.NODE.spans.)
                f"latest: expected an integer >= 1 (the window size), got "
                f"{self.latest!r}; set spans: {{latest: 3}}, or drop it to read one span"
            )


@dataclass(frozen=True)
class Span:
    """One span that exists: its value and the source path with the tokens filled in.

    value: int for `{span}` patterns, "YYYY-MM-DD" for date patterns.
    source: the pattern with every token replaced (its non-span tail, e.g. `*.csv`, kept).
    """

    value: SpanValue
    source: str


def has_span_pattern(source: str) -> bool:
    """True if `source` holds a span token ({span}, {YYYY}, {MM} or {DD})."""
    return _TOKEN_RE.search(source) is not None


def _check_tokens(source: str) -> set[str]:
    tokens = set(_TOKEN_RE.findall(source))
    if "span" in tokens and tokens & _DATE_TOKENS:
        raise ConfigError(
            f"source {source!r} mixes {{span}} with date tokens; expected either {{span}} or "
            "{YYYY}, {MM} and {DD} together. Fix: use one kind of span pattern."
        )
    if tokens & _DATE_TOKENS and tokens != _DATE_TOKENS:
        missing = sorted(_DATE_TOKENS - tokens)
        raise ConfigError(
            f"source {source!r} has a partial date pattern (missing {missing}); expected "
            "{YYYY}, {MM} and {DD} all present. Fix: add the missing tokens."
        )
    return tokens


def _component_regex(component: str) -> re.Pattern[str]:
    """A regex for one path component holding tokens, each token a named group."""
    out, pos, seen = [], 0, set()
    for m in _TOKEN_RE.finditer(component):
        out.append(re.escape(component[pos : m.start()]))
        name = m.group(1)
        # A token repeated in one component must match the same digits (backreference).
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_TOKENS[name]})")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(component[pos:]))
    return re.compile("".join(out) + r"\Z")


def _span_value(values: dict[str, str]) -> SpanValue | None:
    if "span" in values:
        return int(values["span"])
    try:
        day = datetime.date(int(values["YYYY"]), int(values["MM"]), int(values["DD"]))
    except ValueError:
        return None  # a folder like 2026-13-45 is not a span; skipped, not an error
    return day.isoformat()


def _walk(
    parts: list[str], base: str, values: dict[str, str], found: list[tuple[dict[str, str], str]]
) -> None:
    """Depth-first over the components up to the last token, listing one directory per level."""
    if not parts:
        found.append((dict(values), base))
        return
    head, rest = parts[0], parts[1:]
    if not _TOKEN_RE.search(head):
        _walk(rest, filesystem.join(base, head) if base else head, values, found)
        return
    listing_dir = base or "."
    if not filesystem.exists(listing_dir):
        return
    regex = _component_regex(head)
    for name in sorted(filesystem.listdir(listing_dir)):
        m = regex.match(name)
        if m is None:
            continue
        groups = m.groupdict()
        # A token used in several components (data/{YYYY}/{YYYY}-{MM}-{DD}) must agree.
        if any(values.get(k, v) != v for k, v in groups.items()):
            continue
        _walk(rest, filesystem.join(base, name) if base else name, {**values, **groups}, found)


def find_spans(source: str) -> list[Span]:
    """Every span `source` names that exists, sorted oldest first.

    Lists one directory per path component holding a token (never a recursive listing). The
    components after the last token (e.g. `*.csv`) are kept as they are: whether they match any
    file is the ingest component's check, as for a plain source. A span value found in two
    folders (`7` and `007`) is a ConfigError, since which one to read would be a guess.
    """
    _check_tokens(source)
    parts = source.split("/")
    last = max(i for i, p in enumerate(parts) if _TOKEN_RE.search(p))
    prefix_parts, tail = parts[: last + 1], parts[last + 1 :]
    # An absolute path ("/data/...") splits into a leading "", and a URL ("gs://b/...") into
    # "gs:", "", "b": rejoin the fixed components before the first token as the listing root.
    first = next(i for i, p in enumerate(prefix_parts) if _TOKEN_RE.search(p))
    root = "/".join(prefix_parts[:first]) or ("/" if source.startswith("/") else "")
    found: list[tuple[dict[str, str], str]] = []
    _walk(prefix_parts[first:], root, {}, found)
    spans: dict[SpanValue, Span] = {}
    for values, path in found:
        value = _span_value(values)
        if value is None:
            continue
        full = "/".join([path, *tail]) if tail else path
        if value in spans:
            raise ConfigError(
                f"span {value!r} of source {source!r} is in two places: {spans[value].source!r} "
                f"and {full!r}. Fix: keep one folder per span."
            )
        spans[value] = Span(value, full)
    return sorted(spans.values(), key=lambda s: s.value)


def parse_span(source: str, requested: object) -> SpanValue:
    """A requested span (from config or a `--param span=...` string) as the pattern's value type.

    `{span}` patterns take an int (or its digits as a string); date patterns take "YYYY-MM-DD"
    or "YYYYMMDD" (a run parameter is a string; YAML may have read a date as datetime.date).
    """
    tokens = _check_tokens(source)
    text = str(requested).strip()
    if "span" in tokens:
        if isinstance(requested, bool) or not re.fullmatch(r"\d+", text):
            raise ConfigError(
                f"span {requested!r} for source {source!r} is not a span number; expected a "
                "non-negative integer such as 7. Fix: pass --param span=7 or spans: {span: 7}."
            )
        return int(text)
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    try:
        if m is None:
            raise ValueError(text)
        return datetime.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        raise ConfigError(
            f"span {requested!r} for source {source!r} is not a date; expected YYYY-MM-DD such "
            "as 2026-12-05. Fix: pass --param span=2026-12-05 (Airflow passes the logical date)."
        ) from None


def select_spans(source: str, span: object = None, latest: int | None = None) -> list[Span]:
    """The spans a run reads, oldest first.

    span: the one span to read (int or "YYYY-MM-DD", see parse_span). Default None.
    latest: read the latest N spans (a rolling window; ending at `span` when both are given).
        Default None; with neither, the single latest span is read.
    Raises DataNotReady (a ConfigError an orchestrator retries) when the requested span does
    not exist (yet), and ConfigError when no span exists and none was asked for, or N < 1.
    """
    if latest is not None and (isinstance(latest, bool) or int(latest) < 1):
        raise ConfigError(
            f"spans.latest is {latest!r}; expected an integer >= 1 (the window size). "
            "Fix: set spans: {latest: 3}, or drop it to read one span."
        )
    wanted = None if span is None else parse_span(source, span)
    spans = find_spans(source)
    if not spans:
        # A requested span that has not landed may land before a retry; with no span asked
        # for, nothing at all under the pattern more likely means a wrong path.
        error = ConfigError if wanted is None else DataNotReady
        raise error(
            f"source {source!r} matches no span: looked for folders matching "
            f"{_looked_for(source)}, found none"
            + ("" if wanted is None else f" (span {wanted!r} was asked for)")
            + ". Fix: check the path, or create the span folder."
        )
    existing = [s.value for s in spans]
    end = len(spans)
    if wanted is not None:
        if wanted not in existing:
            raise DataNotReady(
                f"span {wanted!r} of source {source!r} does not exist; existing spans: "
                f"{_shown(existing)}. Fix: pick one of them, or wait until that span lands."
            )
        end = existing.index(wanted) + 1
    count = 1 if latest is None else int(latest)
    return spans[max(0, end - count) : end]


@dataclass(frozen=True)
class SpanFiles:
    """The files a span-pattern source reads.

    files: the chosen spans' files, sorted (their paths hold the span folder, so a source
        fingerprint over them changes with the span: a new span reruns, the same span rerun
        is cached).
    spans: the span values read, oldest first.
    """

    files: tuple[str, ...]
    spans: tuple[SpanValue, ...]


def span_files(
    source: str, spans: SpansConfig, extensions: tuple[str, ...], format_name: str
) -> SpanFiles:
    """The files of the spans `spans` selects from the pattern `source` (see select_spans).

    Inside each span folder, the part of `source` after the last token follows the plain
    source rules (a glob, a file, or a folder of files ending in `extensions`). Raises
    DataNotReady (a ConfigError an orchestrator retries) when the requested span does not
    exist, or a chosen span holds no `format_name` file yet (an export still being written),
    and ConfigError for the other mistakes (see select_spans).
    """
    chosen = select_spans(source, spans.span, spans.latest)
    files: list[str] = []
    for span in chosen:
        matched = data_sources.match_files(span.source, extensions)
        if not matched:
            raise DataNotReady(
                f"source: span {span.value!r} exists but {span.source!r} matches no "
                f"{format_name} file ({'/'.join(extensions)}); check the part after the span "
                "in the pattern, or that the span folder is fully written"
            )
        files.extend(matched)
    return SpanFiles(tuple(sorted(files)), tuple(s.value for s in chosen))


def span_properties(spans: tuple[SpanValue, ...]) -> dict[str, object]:
    """Examples artifact properties for the spans read: {"span": the latest one, "spans": all,
    oldest first}; {} for a source without a span pattern (so such artifacts are unchanged)."""
    if not spans:
        return {}
    return {"span": spans[-1], "spans": list(spans)}


def _looked_for(source: str) -> str:
    parts = source.split("/")
    last = max(i for i, p in enumerate(parts) if _TOKEN_RE.search(p))
    shown = "/".join(parts[: last + 1])
    return _TOKEN_RE.sub(lambda m: "<" + _TOKENS[m.group(1)] + ">", shown)


def _shown(values: list[SpanValue], limit: int = 10) -> str:
    if len(values) <= limit:
        return ", ".join(map(str, values))
    return (
        ", ".join(map(str, values[: limit // 2]))
        + ", ..., "
        + ", ".join(map(str, values[-limit // 2 :]))
    )
