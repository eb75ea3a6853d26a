"""A declared frequency finer than the data (hourly rows, frequency 15min) fills 3 of every 4
steps by interpolation: ingest says so in its progress line, its summary and a logged warning
naming `frequency` (validate blocks it: validate.max_filled_fraction). The counts
are those ingest writes for 40 hourly rows declared 15min (117 filled steps)."""

from __future__ import annotations

import logging

from seqline.components.ingest_series.component import done_message, summarize
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.counts import filled_steps_warning


def _counts(points: int, filled: int) -> dict:
    return {
        "input": points, "rejected": 0, "by_reason": {}, "points": {"train": points},
        "windows": {"train": 100}, "series_ids": [""],
        "stats": {"filled_steps": filled, "short_segments": 0},
    }  # fmt: skip


def test_more_filled_steps_than_points_warns_naming_frequency(caplog) -> None:
    config = IngestSeriesConfig(source="x.csv", frequency="15min", lookback=8, horizon=4)
    with caplog.at_level(logging.WARNING, logger="seqline.components.ingest_series"):
        summary = summarize(_counts(40, 117), config)
    assert summary["accepted"] == 40 and summary["filled_steps"] == 117
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "117 steps were filled by gap_policy 'interpolate', more than the 40 real" in warnings[0]
    assert "is frequency '15min' finer than the data's step?" in warnings[0]
    line = done_message(summary, config)
    assert "117 steps filled, more than the 40 real points: frequency '15min'" in line


def test_a_few_filled_gaps_do_not_warn(caplog) -> None:
    config = IngestSeriesConfig(source="x.csv", frequency="1h")
    assert filled_steps_warning(_counts(100, 100), config) is None
    with caplog.at_level(logging.WARNING, logger="seqline.components.ingest_series"):
        summary = summarize(_counts(100, 3), config)
    assert not caplog.records
    assert "filled" not in done_message(summary, config)
    assert filled_steps_warning(_counts(100, 101), config) is not None


HOUR = 3600 * 10**6


def _series(steps: list[int]):
    """One series' PointBatch of hourly rows at `steps` (hours after 2000-01-01)."""
    import numpy as np

    from seqline.components.ingest_series.records import PointBatch

    t0 = 946684800 * 10**6
    stamps = np.asarray([t0 + s * HOUR for s in steps], np.int64)
    values = np.asarray(steps, np.float64).reshape(-1, 1)
    return PointBatch(0, np.arange(1, len(steps) + 1), stamps, values)


def _window_counts(config: IngestSeriesConfig, series: dict) -> list[tuple[str, int]]:
    """The (key, n) COUNTS pairs MakeWindowsFn emits for `series` (id -> PointBatch), each
    series in its own bundle, combined per key as IngestSeries' CombineCounts does."""
    from collections import defaultdict

    from seqline.components.ingest_series.transforms import COUNTS, MakeWindowsFn, _combine

    fn = MakeWindowsFn(config, ["x.csv"])
    fn.setup()
    grouped = defaultdict(list)
    for series_id, batch in series.items():
        fn.start_bundle()
        list(fn.process((series_id, [batch])))
        for output in fn.finish_bundle():
            assert output.tag == COUNTS
            key, n = output.value.value
            grouped[key].append(n)
    return [_combine(key, values) for key, values in grouped.items()]


def test_filled_steps_per_split_travel_from_the_windows_to_the_examples(caplog) -> None:
    from seqline.components.ingest_series.counts import examples_properties
    from seqline.components.ingest_series.transforms import counts_document
    from seqline.pipeline.artifact import ArtifactType
    from seqline.pipeline.artifacts import GridSteps, SeriesWindows, SplitGridSteps

    config = IngestSeriesConfig(
        source="x.csv", frequency="1h", lookback=2, horizon=1, series_id_column="id",
        split_by="time", split_cuts=("2000-01-02T16:00:00Z", "2000-01-03T02:00:00Z"),
    )  # fmt: skip
    # Cuts at steps 40 and 50. Series a: every hour to step 49, then a row every third hour
    # (test: 5 rows, 8 steps filled); series b: every hour to step 59 but 55 (test: 9 rows,
    # 1 step filled). The combine sums the two series' figures per split.
    a = _series([*range(50), *range(50, 63, 3)])
    b = _series([s for s in range(60) if s != 55])
    doc = counts_document(_window_counts(config, {"a": a, "b": b}))
    doc.update(input=114, rejected=0, by_reason={})
    assert doc["points"] == {"train": 80, "eval": 20, "test": 14}
    assert doc["filled_by_split"] == {"train": 0, "eval": 0, "test": 9}
    assert doc["stats"]["filled_steps"] == 9

    properties = examples_properties(doc, config)
    assert properties["gaps"]["filled_by_split"] == {"train": 0, "eval": 0, "test": 9}
    windows = SeriesWindows(ArtifactType.SERIES_WINDOWS, "uri", "fp", properties=properties)
    grid = windows.grid_steps
    assert grid == GridSteps(
        filled=9, real=114,
        splits=(SplitGridSteps("train", 0, 80), SplitGridSteps("eval", 0, 20),
                SplitGridSteps("test", 9, 14)),
    )  # fmt: skip
    assert grid.filled_fraction < 0.25 < grid.splits[2].filled_fraction  # 7.3% vs 39.1%

    # Under half of test is filled here: no warning. A sparser test split warns naming it.
    assert filled_steps_warning(doc, config) is None
    sparse = _series([*range(50), *range(50, 75, 4)])  # test: 7 rows, 18 filled
    doc = counts_document(_window_counts(config, {"a": sparse}))
    doc.update(input=57, rejected=0, by_reason={})
    with caplog.at_level(logging.WARNING, logger="seqline.components.ingest_series"):
        summary = summarize(doc, config)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "18 steps were filled by gap_policy 'interpolate' (57 real points in total)" in warning
    assert "split 'test' is the most filled: 18 filled steps and 7 real points (72% filled)" in (
        warning
    )
    assert summary["worst_filled_split"] == {"split": "test", "filled": 18, "real": 7}
    line = done_message(summary, config)
    assert "split 'test' mostly filled (18 filled steps, 7 real points, 72% filled)" in line


def test_missing_steps_per_split_travel_from_the_windows_to_the_examples() -> None:
    from seqline.components.ingest_series.counts import examples_properties
    from seqline.components.ingest_series.transforms import counts_document

    config = IngestSeriesConfig(
        source="x.csv", frequency="1h", lookback=2, horizon=1, series_id_column="id",
        split_by="time", split_cuts=("2000-01-02T16:00:00Z", "2000-01-03T02:00:00Z"),
    )  # fmt: skip
    # Cuts at steps 40 and 50. Series a: a 5-step hole in train (10-14, longer than
    # max_gap_steps 3), a 2-step one in eval (44-45, filled); series b: a 4-step hole across
    # the eval/test boundary (48-51, counted in test) and one in test (55-59).
    a = _series([s for s in range(60) if not (10 <= s <= 14 or 44 <= s <= 45)])
    b = _series([s for s in range(70) if not (48 <= s <= 51 or 55 <= s <= 59)])
    doc = counts_document(_window_counts(config, {"a": a, "b": b}))
    doc.update(input=116, rejected=0, by_reason={})
    assert doc["missing_by_split"] == {"train": 5, "eval": 0, "test": 9}
    assert doc["missing_gaps_by_split"] == {"train": 1, "eval": 0, "test": 2}
    assert doc["filled_by_split"] == {"train": 0, "eval": 2, "test": 0}
    gaps = examples_properties(doc, config)["gaps"]
    assert gaps["missing_by_split"] == {"train": 5, "eval": 0, "test": 9}
    assert gaps["missing_gaps_by_split"] == {"train": 1, "eval": 0, "test": 2}
    # Counts written before ingest counted missing steps per split: no such keys.
    for key in ("missing_by_split", "missing_gaps_by_split"):
        del doc[key]
    assert "missing_by_split" not in examples_properties(doc, config)["gaps"]
