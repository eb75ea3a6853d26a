"""ingest_series on a span-pattern source: the same patterns and `spans:` as ingest_text
(pipeline/spans.py span_files), its cache identity, and the span recorded on the artifact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from seqline.components.ingest_series.component import COMPONENT
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.sources import resolve_source
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.spans import SpansConfig
from tests.components.ingest_series.helpers import run_component

T0 = dt.datetime(2026, 1, 1)
ROWS_PER_SPAN = 60


def _batches(root: Path, batches: tuple[int, ...] = (1, 2, 10)) -> str:
    """One hourly CSV per numbered batch folder, batch b holding the hours after batch b-1's."""
    for b in batches:
        folder = root / str(b)
        folder.mkdir(parents=True)
        start = T0 + dt.timedelta(hours=(b - 1) * ROWS_PER_SPAN)
        lines = ["timestamp,value"] + [
            f"{(start + dt.timedelta(hours=h)).isoformat()},{h % 24 + 0.5 * b}"
            for h in range(ROWS_PER_SPAN)
        ]
        (folder / "load.csv").write_text("\n".join(lines) + "\n")
    return f"{root}/{{span}}/*.csv"


def _config(source: str, **spans: Any) -> IngestSeriesConfig:
    return IngestSeriesConfig(
        source=source, frequency="1h", lookback=6, horizon=2, spans=SpansConfig(**spans)
    )


def test_reads_latest_explicit_or_window(tmp_path: Path) -> None:
    source = _batches(tmp_path)
    latest = resolve_source(_config(source))
    assert latest.spans == (10,)  # numeric order: 10 comes after 2
    assert latest.files == (f"{tmp_path}/10/load.csv",)
    assert resolve_source(_config(source, span=2)).spans == (2,)
    assert resolve_source(_config(source, span="1", latest=3)).spans == (1,)
    window = resolve_source(_config(source, latest=2))
    assert window.spans == (2, 10)
    assert window.files == (f"{tmp_path}/10/load.csv", f"{tmp_path}/2/load.csv")


def test_plain_source_has_no_spans(tmp_path: Path) -> None:
    _batches(tmp_path, (1,))
    found = resolve_source(_config(f"{tmp_path}/1/load.csv"))
    assert found.files == (f"{tmp_path}/1/load.csv",) and found.spans == ()


def test_fingerprint_and_check_follow_the_span(tmp_path: Path) -> None:
    source = _batches(tmp_path, (1, 2))
    first = COMPONENT.source_fingerprint(_config(source))
    assert COMPONENT.source_fingerprint(_config(source)) == first
    _batches(tmp_path, (3,))
    assert COMPONENT.source_fingerprint(_config(source)) != first  # a new latest batch
    assert COMPONENT.source_fingerprint(_config(source, span=2)) == first  # pinned
    with pytest.raises(ConfigError, match="span 7 of source .* existing spans: 1, 2, 3"):
        COMPONENT.check(_config(source, span=7))
    (tmp_path / "4").mkdir()  # a batch folder still being written
    with pytest.raises(ConfigError, match="span 4 exists but .* matches no csv file"):
        COMPONENT.check(_config(source))
    with pytest.raises(ConfigError, match="is not a span number"):
        COMPONENT.check(_config(source, span="2026-12-01"))


@pytest.mark.slow  # one Beam run
def test_window_is_one_history_and_recorded_in_the_artifact(tmp_path: Path) -> None:
    source = _batches(tmp_path / "data")
    summary, examples, _ = run_component(tmp_path, _config(source, latest=2))
    assert summary["input"] == 2 * ROWS_PER_SPAN  # batches 2 and 10 only
    assert examples.properties["span"] == 10
    assert examples.properties["spans"] == [2, 10]
