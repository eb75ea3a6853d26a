"""validate.max_gap_fraction counts missing *data steps* of each split's grid (ingest_series'
own counts, carried by the statistics), not missing window ends: one 2-step hole in a
1,000-step series with lookback 48 / horizon 48 is 2 steps, not the ~97 window ends it
removes. Statistics without those counts (written before they were carried) fall back to the
window-based figure and say so."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.statistics import statistics_proto as sp
from seqline.components.statistics.config import StatisticsConfig
from seqline.components.statistics.series_stats import GridCounts, grid_counts
from seqline.components.statistics.statistics_files import (
    custom_num,
    custom_stat,
    features_by_name,
    read_statistics,
    split_statistics,
    write_statistics,
)
from seqline.components.validate.config import ValidateConfig
from seqline.components.validate.schema_checks import CheckOptions, check_split
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.errors import DataError
from seqline.pipeline.harness import run_component
from seqline.schemas.feature_spec import TRAINING
from tests.components.statistics.helpers import direct_statistics

T0 = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
SPLITS = ("train", "eval", "test")
STATS_CONFIG = StatisticsConfig(
    text_features=(), label_feature="", timestamp_feature="window_end",
    series_id_feature="series_id",
)  # fmt: skip


def _write_csv(path: Path, n: int, missing: set[int]) -> str:
    """n hourly rows from 2000-01-01 except the steps in `missing`."""
    lines = ["timestamp,value"]
    for step in range(n):
        if step not in missing:
            stamp = (T0 + dt.timedelta(hours=step)).strftime("%Y-%m-%dT%H:%M:%S")
            lines.append(f"{stamp},{(step % 24) / 10 + step / 1000:.6f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _strip_grid_counts(uri: str) -> None:
    """Rewrites the statistics at `uri` as the previous version wrote them (no SERIES_GRID_*)."""
    stats = read_statistics(uri)
    for dataset in stats.datasets:
        for feature in dataset.features:
            kept = [c for c in feature.custom_stats if not c.name.startswith("series_grid_")]
            del feature.custom_stats[:]
            feature.custom_stats.extend(kept)
    write_statistics(stats, uri)


@pytest.mark.slow  # ingest, statistics and validate executors on a 1,000-row series (~15 s)
def test_one_short_gap_with_a_long_lookback_passes_as_its_data_steps(tmp_path: Path) -> None:
    from seqline.components.ingest_series.component import COMPONENT as INGEST
    from seqline.components.schema.inference import InferenceOptions, infer_schema
    from seqline.components.statistics.component import COMPONENT as STATISTICS
    from seqline.components.validate.component import COMPONENT as VALIDATE
    from seqline.schemas.loading import write_schema

    # One 2-step hole at steps 300-301 (train), left unfilled (gap_policy drop).
    source = _write_csv(tmp_path / "load.csv", 1000, missing={300, 301})
    config = IngestSeriesConfig(
        source=source, frequency="1h", lookback=48, horizon=48, gap_policy="drop",
        split_fractions=(0.7, 0.15, 0.15),
    )  # fmt: skip
    root = tmp_path / "root"
    ingest = run_component(INGEST, config, root=root, run_id="r1", node_id="ingest")
    examples = ingest.outputs["examples"]
    gaps = examples.properties["gaps"]
    assert gaps["missing_by_split"] == {"train": 2, "eval": 0, "test": 0}
    assert gaps["missing_gaps_by_split"] == {"train": 1, "eval": 0, "test": 0}

    statistics = run_component(
        STATISTICS, STATS_CONFIG, {"examples": examples}, root=root, run_id="r1",
        node_id="statistics",
    ).outputs["statistics"]  # fmt: skip
    stats = read_statistics(statistics.uri)
    train = features_by_name(split_statistics(stats, "train"))["window_end"]
    points = examples.properties["points"]["train"]  # 699 rows: 701 grid steps
    assert custom_num(train, sp.SERIES_GRID_STEPS) == points + 2
    assert custom_num(train, sp.SERIES_GRID_MISSING_STEPS) == 2
    assert custom_num(train, sp.SERIES_GRID_GAPS) == 1
    # What the windows show: the hole removed 2 + 48 + 48 - 1 = 97 window ends.
    assert custom_num(train, sp.SERIES_MISSING_STEPS) == 97

    schema_dir = tmp_path / "schema"
    os.makedirs(schema_dir)
    write_schema(infer_schema(stats, InferenceOptions(label_feature="")), str(schema_dir))
    schema = Artifact(ArtifactType.SCHEMA, str(schema_dir), "fp-schema")
    statistics.created = 1.0
    inputs = {"statistics": statistics, "schema": schema}
    resolved = {"baseline_statistics": None}
    counted: list[str] = []
    passed = run_component(
        VALIDATE, ValidateConfig(), inputs, root=root, resolved=resolved, node_id="validate",
        run_id="r2", progress=counted.append,
    )  # fmt: skip
    assert passed.summary["blocking"] == 0
    assert not any("window ends" in line for line in counted)
    assert "SERIES_IRREGULAR_TIMESTAMPS" not in str(passed.outputs["anomalies"].properties)

    # A limit below 2 / 701 (0.29%) blocks, naming the split, its share and the gap count.
    with pytest.raises(DataError) as raised:
        run_component(
            VALIDATE, ValidateConfig(max_gap_fraction=0.002), inputs, root=root,
            resolved=resolved, node_id="validate", run_id="r3",
        )  # fmt: skip
    message = str(raised.value)
    assert "feature 'window_end' (train): SERIES_IRREGULAR_TIMESTAMPS" in message
    assert (
        f"split 'train': 0.29% of its grid's data steps missing (2 of {points + 2} steps, in "
        "1 gap(s) ingest_series did not fill" in message
    )

    # Statistics written by the previous version (no grid counts): the window-based figure,
    # saying it is one.
    _strip_grid_counts(statistics.uri)
    said: list[str] = []
    with pytest.raises(DataError) as raised:
        run_component(  # another root: the same inputs' run above is cached under `root`
            VALIDATE, ValidateConfig(), inputs, root=tmp_path / "old", resolved=resolved,
            node_id="validate", run_id="r4", progress=said.append,
        )  # fmt: skip
    # The progress line says so too, before any anomaly (a run that passes shows only this).
    assert any(
        "max_gap_fraction counted on window ends for split(s) ['train'" in line for line in said
    )
    message = str(raised.value)
    assert "feature 'window_end' (train): SERIES_IRREGULAR_TIMESTAMPS" in message
    assert (
        "split 'train': 16.03% of the grid's steps missing (97 missing steps in 1 gap(s)), "
        "counted on the examples' timestamps" in message
    )
    assert "g + lookback + horizon - 1" in message


def _window_end_stats(grid: GridCounts | None, window_gap: int = 0):
    """Statistics of one split's window ends (one series, 600 windows, one hole of
    `window_gap` missing window ends), with ingest's grid counts when `grid` is given."""
    ends = [3600 * i for i in range(600 + window_gap) if not 300 <= i < 300 + window_gap]
    records = [{"series_id": "", "window_end": end} for end in ends]
    stats = direct_statistics({"train": records}, STATS_CONFIG)
    if grid is not None:
        assert sp.add_grid_counts(stats, "window_end", {"train": grid}) == 1
    return stats


def _schema(stats):
    from seqline.components.schema.inference import InferenceOptions, infer_schema

    return infer_schema(stats, InferenceOptions(label_feature=""))


def test_the_gap_fraction_is_missing_data_steps_of_the_split_grid() -> None:
    clean = _window_end_stats(None)
    schema = _schema(clean)
    # The windows lost 97 ends to a 2-step hole (lookback 48, horizon 48): 13.9% of their
    # timestamps' grid, while the data's grid misses 2 of 701 steps.
    windows_only = _window_end_stats(None, window_gap=97)
    [old] = check_split(windows_only.datasets[0], schema, TRAINING, "train", CheckOptions())
    assert "counted on the examples' timestamps" in old.observed
    data = _window_end_stats(GridCounts(real=699, filled=0, missing=2, gaps=1), window_gap=97)
    assert check_split(data.datasets[0], schema, TRAINING, "train", CheckOptions()) == []
    [strict] = check_split(
        data.datasets[0], schema, TRAINING, "train", CheckOptions(max_gap_fraction=0.001)
    )
    assert (strict.type, strict.feature, strict.split) == (
        "SERIES_IRREGULAR_TIMESTAMPS", "window_end", "train",
    )  # fmt: skip
    assert "<= 0.10% of the split's grid steps missing (data steps)" in strict.expected
    assert (
        "split 'train': 0.29% of its grid's data steps missing (2 of 701 steps, in 1 gap(s)"
        in strict.observed
    )
    assert "validate.max_gap_fraction" in strict.observed
    # A long hole counts its steps even where the windows show none (e.g. across a split
    # boundary): 60 of 759 steps is 7.9% > 5%.
    hole = _window_end_stats(GridCounts(real=699, filled=0, missing=60, gaps=1))
    [blocked] = check_split(hole.datasets[0], schema, TRAINING, "train", CheckOptions())
    assert "split 'train': 7.91% of its grid's data steps missing (60 of 759 steps" in (
        blocked.observed
    )


def test_grid_counts_come_from_ingest_properties_and_old_examples_have_none(
    tmp_path: Path,
) -> None:
    properties = {
        "points": {"train": 699, "eval": 150, "test": 149},
        "gaps": {
            "filled_steps": 3,
            "filled_by_split": {"train": 3, "eval": 0, "test": 0},
            "missing_by_split": {"train": 2, "eval": 0, "test": 7},
            "missing_gaps_by_split": {"train": 1, "eval": 0, "test": 1},
        },
    }
    grids = grid_counts(properties)
    assert grids == {
        "train": GridCounts(real=699, filled=3, missing=2, gaps=1),
        "eval": GridCounts(real=150, filled=0, missing=0, gaps=0),
        "test": GridCounts(real=149, filled=0, missing=7, gaps=1),
    }
    assert grids["train"].steps == 704 and grids["test"].missing_fraction == 7 / 156
    # Examples written before ingest counted missing steps per split, and text examples.
    older = {"points": properties["points"], "gaps": {"filled_steps": 3}}
    assert grid_counts(older) is None
    assert grid_counts({"counts": {"train": 10}}) is None
    # Written onto the timestamp feature of each split; written twice, kept once.
    stats = _window_end_stats(None)
    sp.add_grid_counts(stats, "window_end", grids)
    sp.add_grid_counts(stats, "window_end", grids)
    feature = features_by_name(stats.datasets[0])["window_end"]
    names = [c.name for c in feature.custom_stats if c.name.startswith("series_grid_")]
    assert sorted(names) == sorted(
        [sp.SERIES_GRID_STEPS, sp.SERIES_GRID_MISSING_STEPS, sp.SERIES_GRID_GAPS]
    )
    assert custom_num(feature, sp.SERIES_GRID_STEPS) == 704
    # The HTML report shows them beside the window-based figures.
    from seqline.components.statistics.report import write_report

    write_report(stats, str(tmp_path), "", title="t")
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "data grid (ingest_series): 704 steps, 2 missing in 1 gap(s)" in page
    assert (
        custom_stat(features_by_name(stats.datasets[0])["series_id"], sp.SERIES_GRID_STEPS) is None
    )
