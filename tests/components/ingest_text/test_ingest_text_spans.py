"""ingest_text on a span-pattern source: which files it reads, its cache identity, its artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seqline.components.ingest_text.component import COMPONENT
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.sources import resolve_source
from seqline.components.ingest_text.synthetic import write_synthetic_reviews
from seqline.pipeline.artifacts import Examples
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.spans import SpansConfig

LABELS = ("neg", "pos")
DAYS = ("2026-12-03", "2026-12-04", "2026-12-05")


def _days(root: Path, days: tuple[str, ...] = DAYS, rows: int = 20) -> str:
    for i, day in enumerate(days):
        write_synthetic_reviews(root / day / "reviews.csv", rows + i, seed=i)
    return f"{root}/{{YYYY}}-{{MM}}-{{DD}}/*.csv"


def _config(source: str, **spans: Any) -> IngestTextConfig:
    return IngestTextConfig(source=source, labels=LABELS, spans=SpansConfig(**spans))


def test_reads_latest_explicit_or_window(tmp_path: Path) -> None:
    source = _days(tmp_path)
    latest = resolve_source(_config(source))
    assert latest.spans == ("2026-12-05",)
    assert latest.files == (f"{tmp_path}/2026-12-05/reviews.csv",)
    assert resolve_source(_config(source, span="2026-12-03")).spans == ("2026-12-03",)
    window = resolve_source(_config(source, latest=2))
    assert window.spans == ("2026-12-04", "2026-12-05")
    assert len(window.files) == 2


def test_fingerprint_changes_with_a_new_span_not_on_rerun(tmp_path: Path) -> None:
    source = _days(tmp_path, DAYS[:2])
    config = _config(source)
    first = COMPONENT.source_fingerprint(config)
    assert COMPONENT.source_fingerprint(config) == first  # same span again: cached
    _days(tmp_path, DAYS[2:])
    assert COMPONENT.source_fingerprint(config) != first  # a new latest span: rerun
    # Pinning the old span keeps the old identity even though a newer span exists.
    assert COMPONENT.source_fingerprint(_config(source, span="2026-12-04")) == first


def test_check_names_the_missing_span_and_what_exists(tmp_path: Path) -> None:
    source = _days(tmp_path)
    with pytest.raises(ConfigError, match="existing spans: 2026-12-03, 2026-12-04, 2026-12-05"):
        COMPONENT.check(_config(source, span="2026-12-06"))
    (tmp_path / "2026-12-06").mkdir()  # a span folder still being written: no csv yet
    with pytest.raises(ConfigError, match="span '2026-12-06' exists but .* matches no csv"):
        COMPONENT.check(_config(source))


def test_span_patterns_need_a_file_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="span patterns .* work with csv and jsonl"):
        IngestTextConfig(source=f"{tmp_path}/{{span}}", format="aclimdb", labels=LABELS)
    raw = {"source": f"{tmp_path}/{{span}}/*.csv", "labels": list(LABELS), "spans": {"latest": 0}}
    with pytest.raises(
        ConfigError, match=r"^components\.ingest_text\.spans\.latest: expected an integer >= 1"
    ):
        build_dataclass(IngestTextConfig, raw, "components.ingest_text")


@pytest.mark.slow  # one Beam run
def test_window_is_ingested_and_recorded_in_the_artifact(tmp_path: Path, run_ingest) -> None:
    source = _days(tmp_path / "data")
    summary, examples, _ = run_ingest(_config(source, latest=2))
    assert summary["input"] == 21 + 22  # the rows of the last two days only
    assert examples.properties["span"] == "2026-12-05"
    assert examples.properties["spans"] == ["2026-12-04", "2026-12-05"]
    # What `seqline show` (describe) and `seqline lineage` (facts) print for this artifact.
    typed = Examples(Examples.TYPE_NAME, examples.uri, "fp", properties=dict(examples.properties))
    assert typed.describe() == ["spans: 2026-12-04, 2026-12-05"]
    assert typed.facts()["spans"] == ["2026-12-04", "2026-12-05"]


def test_nightly_spans_example_reads_the_run_date_and_the_day_before(tmp_path: Path) -> None:
    # examples/airflow/nightly_spans.yaml, placed so its ../../demo-output paths land in tmp_path.
    example = Path(__file__).parents[3] / "examples" / "airflow" / "nightly_spans.yaml"
    config_dir = tmp_path / "examples" / "airflow"
    config_dir.mkdir(parents=True)
    (config_dir / "nightly_spans.yaml").write_text(example.read_text())
    _days(tmp_path / "demo-output" / "nightly" / "days")

    def ingest_config(span: str) -> IngestTextConfig:
        pipeline = load_pipeline(config_dir / "nightly_spans.yaml", params={"span": span})
        return next(n for n in pipeline.nodes if n.id == "ingest_text").config

    assert resolve_source(ingest_config("2026-12-04")).spans == ("2026-12-03", "2026-12-04")
    with pytest.raises(ConfigError, match="existing spans"):
        COMPONENT.check(ingest_config("2026-12-09"))
