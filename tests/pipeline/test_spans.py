"""Span patterns: listing the spans that exist and choosing the ones a run reads."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError, DataNotReady
from seqline.pipeline.spans import (
    SpansConfig,
    find_spans,
    has_span_pattern,
    parse_span,
    select_spans,
    span_files,
)


def _make(root: Path, folders: list[str]) -> None:
    for name in folders:
        (root / name).mkdir(parents=True)
        (root / name / "part.csv").write_text("text,label\nhi,1\n")


@pytest.fixture
def numbered(tmp_path: Path) -> str:
    _make(tmp_path, ["1", "2", "10", "notes"])  # "notes" is not a span; 10 sorts after 2
    return f"{tmp_path}/{{span}}/*.csv"


@pytest.fixture
def dated(tmp_path: Path) -> str:
    _make(tmp_path, ["2026-12-03", "2026-12-04", "2026-12-05", "2026-13-01", "latest"])
    return f"{tmp_path}/{{YYYY}}-{{MM}}-{{DD}}/*.csv"


def test_has_span_pattern() -> None:
    assert has_span_pattern("data/{span}/*.csv")
    assert has_span_pattern("gs://b/{YYYY}/{MM}/{DD}")
    assert not has_span_pattern("data/*.csv")


def test_find_numbered_spans_sorted_numerically(numbered: str) -> None:
    spans = find_spans(numbered)
    assert [s.value for s in spans] == [1, 2, 10]
    assert spans[-1].source == numbered.replace("{span}", "10")


def test_find_dated_spans_skips_impossible_dates(dated: str) -> None:
    assert [s.value for s in find_spans(dated)] == ["2026-12-03", "2026-12-04", "2026-12-05"]


def test_latest_by_default(numbered: str, dated: str) -> None:
    assert [s.value for s in select_spans(numbered)] == [10]
    assert [s.value for s in select_spans(dated)] == ["2026-12-05"]


def test_explicit_span(numbered: str, dated: str) -> None:
    assert [s.value for s in select_spans(numbered, span="2")] == [2]
    assert [s.value for s in select_spans(dated, span="20261204")] == ["2026-12-04"]


def test_window_of_two(numbered: str, dated: str) -> None:
    assert [s.value for s in select_spans(numbered, latest=2)] == [2, 10]
    # A window ending at an explicit span (a backfill run for an older date).
    assert [s.value for s in select_spans(dated, span="2026-12-04", latest=2)] == [
        "2026-12-03",
        "2026-12-04",
    ]
    # A window wider than what exists reads what exists.
    assert len(select_spans(numbered, latest=5)) == 3


def test_new_span_becomes_latest(tmp_path: Path) -> None:
    _make(tmp_path, ["1", "2"])
    pattern = f"{tmp_path}/{{span}}"
    assert select_spans(pattern)[0].value == 2
    _make(tmp_path, ["3"])
    assert select_spans(pattern)[0].value == 3


def test_nested_date_components(tmp_path: Path) -> None:
    _make(tmp_path, ["2026/12/04", "2026/12/05", "2025/01/31"])
    spans = find_spans(f"{tmp_path}/{{YYYY}}/{{MM}}/{{DD}}/part.csv")
    assert [s.value for s in spans] == ["2025-01-31", "2026-12-04", "2026-12-05"]
    assert spans[0].source == f"{tmp_path}/2025/01/31/part.csv"


def test_missing_span_lists_existing(numbered: str) -> None:
    with pytest.raises(ConfigError, match=r"span 7 .*does not exist; existing spans: 1, 2, 10"):
        select_spans(numbered, span=7)


def test_no_span_matches_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"matches no span: looked for folders matching"):
        select_spans(f"{tmp_path}/{{span}}/*.csv")
    with pytest.raises(ConfigError, match="matches no span"):
        select_spans(f"{tmp_path}/absent/{{span}}")


def test_bad_requests_are_config_errors(numbered: str, dated: str) -> None:
    with pytest.raises(ConfigError, match="not a span number"):
        parse_span(numbered, "2026-12-05")
    with pytest.raises(ConfigError, match="not a date"):
        parse_span(dated, "yesterday")
    with pytest.raises(ConfigError, match="expected an integer >= 1"):
        select_spans(numbered, latest=0)
    with pytest.raises(ConfigError, match="partial date pattern"):
        find_spans("data/{YYYY}-{MM}/x.csv")
    with pytest.raises(ConfigError, match="mixes"):
        find_spans("data/{span}/{YYYY}-{MM}-{DD}")


def test_same_span_in_two_folders_is_an_error(tmp_path: Path) -> None:
    _make(tmp_path, ["7", "007"])
    with pytest.raises(ConfigError, match="in two places"):
        find_spans(f"{tmp_path}/{{span}}")


def test_bare_yaml_date_is_read_as_the_iso_span(dated: str) -> None:
    # `span: 2026-12-04` unquoted: YAML gives a datetime.date, which means the ISO day.
    data = yaml.safe_load("span: 2026-12-04\nlatest: 2\n")
    assert isinstance(data["span"], datetime.date)
    spans = build_dataclass(SpansConfig, data, "components.ingest_text.spans")
    assert spans.span == "2026-12-04"
    chosen = select_spans(dated, spans.span, spans.latest)
    assert [s.value for s in chosen] == ["2026-12-03", "2026-12-04"]


def test_bare_yaml_timestamp_says_to_quote_the_day() -> None:
    data = yaml.safe_load("span: 2026-12-04 10:30:00\n")
    expected = r"components\.ingest_text\.spans\.span: .*timestamp .* quote the day alone"
    with pytest.raises(ConfigError, match=expected):
        build_dataclass(SpansConfig, data, "components.ingest_text.spans")


def test_data_that_has_not_landed_is_data_not_ready(numbered: str, tmp_path: Path) -> None:
    """What a retry can fix (the span lands, the export finishes) is DataNotReady, so an
    orchestrator retries it; the other mistakes stay plain ConfigErrors."""
    with pytest.raises(DataNotReady, match=r"span 7 .*does not exist; existing spans"):
        select_spans(numbered, span=7)
    (tmp_path / "11").mkdir()  # the export created the folder, wrote nothing yet
    with pytest.raises(DataNotReady, match=r"span 11 exists but .* matches no csv file"):
        span_files(numbered, SpansConfig(span=11), (".csv",), "csv")
    with pytest.raises(DataNotReady, match=r"span 11 exists but"):
        span_files(numbered, SpansConfig(), (".csv",), "csv")  # the latest span, still empty
    empty = tmp_path / "none"
    with pytest.raises(DataNotReady, match=r"matches no span: .*\(span 3 was asked for\)"):
        select_spans(f"{empty}/{{span}}/*.csv", span=3)
    # No span asked for and none at all: most likely a wrong path, which no retry fixes.
    with pytest.raises(ConfigError, match="matches no span") as caught:
        select_spans(f"{empty}/{{span}}/*.csv")
    assert not isinstance(caught.value, DataNotReady)
    with pytest.raises(ConfigError) as caught:
        select_spans(numbered, latest=0)
    assert not isinstance(caught.value, DataNotReady)
