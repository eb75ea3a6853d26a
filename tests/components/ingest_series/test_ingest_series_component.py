"""The ingest_series component end to end on files in tmp_path (Beam FnApiRunner)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqline.components.ingest_series.component import COMPONENT
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.sources import check_source, source_fingerprint
from seqline.components.ingest_series.synthetic import write_synthetic_series
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.harness import run_component as run_node
from tests.components.ingest_series.helpers import read_rejections, read_windows, run_component

HOUR_S = 3600
T0_S = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())

BAD_ROWS = [
    # (row, expected reason); columns: timestamp, series, value, cov1
    ("2000-01-01T03:00:00,s0,nan,0.5", "non_finite"),
    ("2000-01-01T04:00:00,s1,inf,0.5", "non_finite"),
    ("2000-01-01T05:00:00,s0,abc,0.5", "non_numeric"),
    ("2000-01-01T06:00:00,s1,,0.5", "missing_value"),
    ("01/01/2000 07:00,s0,1.0,0.5", "bad_timestamp"),
    ("2000-01-01T08:00:00,,1.0,0.5", "missing_series_id"),
    ("2000-01-01T09:00:00,s0,1.0", "wrong_column_count"),
    ("2000-01-01T10:00:00,s1,99.0,0.5", "duplicate_timestamp"),  # s1 already has 10:00
    ("2000-01-01T10:20:00,s0,99.0,0.5", "off_grid_timestamp"),
]


def read_csv_rows(path: str) -> dict[tuple[str, int], tuple[float, float]]:
    """(series, epoch seconds) -> (value, cov1) of the generated rows."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        stamp = dt.datetime.fromisoformat(r["timestamp"]).replace(tzinfo=dt.UTC)
        out[(r["series"], int(stamp.timestamp()))] = (float(r["value"]), float(r["cov1"]))
    return out


@pytest.mark.slow  # the first Beam + TensorFlow run of a session: ~8 s on 2 cores
def test_csv_multi_series_with_bad_rows(tmp_path: Path) -> None:
    source = write_synthetic_series(
        tmp_path / "data" / "load.csv", 200, seed=3, n_series=2, covariates=1
    )
    good = read_csv_rows(source)
    with open(source, "a", encoding="utf-8") as f:
        f.write("".join(row + "\n" for row, _ in BAD_ROWS))
    config = IngestSeriesConfig(
        source=source,
        frequency="1h",
        series_id_column="series",
        covariates=("cov1",),
        lookback=12,
        horizon=3,
        stride=2,
        split_fractions=(0.6, 0.2, 0.2),
        max_reject_ratio=0.05,
    )
    summary, examples, rejected = run_component(tmp_path, config)

    # input = accepted + rejected, and input is every data row of the file.
    assert summary["input"] == 400 + len(BAD_ROWS)
    assert summary["accepted"] == 400 and summary["rejected"] == len(BAD_ROWS)
    expected_reasons: dict[str, int] = {}
    for _row, reason in BAD_ROWS:
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert rejected.properties["count"] == len(BAD_ROWS)
    assert rejected.properties["by_reason"] == dict(
        sorted(expected_reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    rejections = read_rejections(rejected.uri)
    assert [(r["position"], r["reason"]) for r in rejections] == [
        (402 + i, reason) for i, (_row, reason) in enumerate(BAD_ROWS)
    ]
    assert rejections[0]["record"] == BAD_ROWS[0][0] and rejections[0]["source"] == source
    assert "kept:" in rejections[-2]["message"]  # the duplicate names the row that was kept

    props = examples.properties
    # Per series: 120 / 40 / 40 points; windows of L + H = 15 steps every 2 steps.
    per_split = {
        "train": (120 - 15) // 2 + 1,
        "eval": (40 - 15) // 2 + 1,
        "test": (40 - 15) // 2 + 1,
    }
    assert props["counts"] == {s: 2 * n for s, n in per_split.items()} == summary["windows"]
    assert props["points"] == {"train": 240, "eval": 80, "test": 80}
    assert props["series_ids"] == ["s0", "s1"]
    assert (props["kind"], props["lookback"], props["horizon"], props["stride"]) == (
        "series",
        12,
        3,
        2,
    )
    assert (props["targets"], props["covariates"], props["frequency"]) == (
        ["value"],
        ["cov1"],
        "1h",
    )
    assert props["duplicates"] == 1 and props["off_grid"] == {"policy": "reject", "rows": 1}
    assert props["out_of_order"] == 2  # the duplicate and the off-grid row come after 199:00
    assert props["gaps"]["gaps"] == 0 and props["input"] == summary["input"]

    ranges = {}
    for split in ("train", "eval", "test"):
        windows = read_windows(examples.uri, split, config)
        assert len(windows) == props["counts"][split]
        for w in windows:
            end = w["window_end"]
            history_times = [end - (11 - i) * HOUR_S for i in range(12)]
            future_times = [end + (i + 1) * HOUR_S for i in range(3)]
            expected_history = [good[(w["series_id"], t)] for t in history_times]
            np.testing.assert_allclose(
                w["history/value"], [v for v, _ in expected_history], rtol=1e-6
            )
            np.testing.assert_allclose(
                w["history/cov1"], [c for _, c in expected_history], rtol=1e-6
            )
            np.testing.assert_allclose(
                w["future/value"], [good[(w["series_id"], t)][0] for t in future_times], rtol=1e-6
            )
            lo, hi = ranges.get(split, (history_times[0], future_times[-1]))
            ranges[split] = (min(lo, history_times[0]), max(hi, future_times[-1]))
    # No window crosses a split boundary: each split's windows lie strictly before the next's.
    assert ranges["train"][1] < ranges["eval"][0] and ranges["eval"][1] < ranges["test"][0]


def test_parquet_with_gaps_interpolates_short_ones_and_breaks_at_long_ones(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    source = write_synthetic_series(
        tmp_path / "data" / "demand.parquet", 120, seed=5, fmt="parquet"
    )
    table = pq.read_table(source)
    values = table.column("value").to_pylist()
    keep = [i for i in range(120) if i != 30 and not 60 <= i < 66]  # gaps: 1 step, 6 steps
    pq.write_table(table.take(keep), source)
    config = IngestSeriesConfig(
        source=str(tmp_path / "data"), format="parquet", frequency="1h", lookback=8,
        horizon=2, splits=("train", "eval"), split_fractions=(0.75, 0.25), max_gap_steps=3,
    )  # fmt: skip
    summary, examples, _rejected = run_component(tmp_path, config)

    assert summary["input"] == summary["accepted"] == len(keep)
    gaps = examples.properties["gaps"]
    assert {k: gaps[k] for k in ("gaps", "missing_steps", "largest_gap_steps")} == {
        "gaps": 2, "missing_steps": 7, "largest_gap_steps": 6,
    }  # fmt: skip
    # 113 points: train = first 85 (steps 0..91), holding both gaps; the 6-step one breaks it.
    assert (gaps["filled_steps"], gaps["breaks"], gaps["segments"]) == (1, 1, 3)
    train = read_windows(examples.uri, "train", config)
    # Segments: steps 0..59 (60 steps, step 30 filled) and 66..91 (26 steps).
    assert len(train) == (60 - 10 + 1) + (26 - 10 + 1)
    t30 = T0_S + 30 * HOUR_S
    window = next(w for w in train if w["window_end"] == t30)
    np.testing.assert_allclose(
        window["history/value"][-1], (values[29] + values[31]) / 2, rtol=1e-6
    )
    for w in train:  # no window spans the 6-step gap (steps 60..65)
        start = w["window_end"] - 7 * HOUR_S
        stop = w["window_end"] + 2 * HOUR_S
        assert stop < T0_S + 60 * HOUR_S or start >= T0_S + 66 * HOUR_S


def test_monthly_gzip_csv_split_at_cut_timestamps(tmp_path: Path) -> None:
    plain = write_synthetic_series(
        tmp_path / "data" / "sunspots.csv", 120, frequency="MS", season_length=12
    )
    with open(plain, "rb") as f, gzip.open(f"{plain}.gz", "wb") as packed:
        packed.write(f.read())
    os.remove(plain)
    config = IngestSeriesConfig(
        source=str(tmp_path / "data"), frequency="MS", lookback=12, horizon=1,
        splits=("train", "eval"), split_by="time", split_cuts=("2008-01-01",),
    )  # fmt: skip
    summary, examples, _rejected = run_component(tmp_path, config)
    assert examples.properties["points"] == {"train": 96, "eval": 24}
    assert summary["windows"] == {"train": 96 - 13 + 1, "eval": 24 - 13 + 1}
    assert examples.properties["gaps"]["gaps"] == 0  # 28..31-day months are regular steps
    ends = [w["window_end"] for w in read_windows(examples.uri, "eval", config)]
    first_end = dt.datetime.fromtimestamp(ends[0], dt.UTC)
    assert first_end == dt.datetime(2008, 12, 1, tzinfo=dt.UTC)  # 12 months of eval history


def test_too_many_rejections_fail_and_keep_the_rejected_rows(tmp_path: Path) -> None:
    source = write_synthetic_series(tmp_path / "s.csv", 60)
    with open(source, "a") as f:
        f.write("".join(f"2001-01-01T00:00:00,oops{i}\n" for i in range(10)))
    config = IngestSeriesConfig(
        source=source, frequency="1h", lookback=4, splits=("train",), split_fractions=(1.0,)
    )
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"at most 5\.00% rejected rows, got 10 of 70") as err:
        run_node(COMPONENT, config, root=root, run_id="r1", node_id="ingest")
    kept = root / "_failed" / "r1" / "ingest"  # kept by the runner, named in the error
    assert str(kept) in str(err.value) and "non_numeric: 10" in str(err.value)
    assert len(read_rejections(str(kept / "rejected"))) == 10


def test_a_split_without_windows_fails_with_the_reason(tmp_path: Path) -> None:
    source = write_synthetic_series(tmp_path / "s.csv", 40)
    config = IngestSeriesConfig(source=source, frequency="1h", lookback=10, horizon=2)
    # 0.15 * 40 = 6 points per eval/test split < lookback + horizon = 12.
    with pytest.raises(
        DataError, match=r"got none in \['eval', 'test'\].*lookback \+ horizon = 12"
    ):
        run_component(tmp_path, config)


def test_history_from_previous_split_keeps_targets_in_their_split(tmp_path: Path) -> None:
    # Each row's value is its step, so a window's values say which split they came from.
    n, lookback, horizon = 60, 20, 3
    rows = [
        f"{dt.datetime.fromtimestamp(T0_S + i * HOUR_S, dt.UTC):%Y-%m-%dT%H:%M:%S},{i},{-i}"
        for i in range(n)
    ]
    source = tmp_path / "s.csv"
    source.write_text("timestamp,value,cov\n" + "\n".join(rows) + "\n")
    train_end, eval_end = 30, 45  # train steps 0..29, eval 30..44, test 45..59
    config = IngestSeriesConfig(
        source=str(source), frequency="1h", covariates=("cov",), lookback=lookback,
        horizon=horizon, split_fractions=(0.5, 0.25, 0.25), history_from_previous_split=True,
    )  # fmt: skip
    summary, examples, _rejected = run_component(tmp_path, config)

    # (c) counts: train as without the option; eval and test (15 points each, fewer than
    # L + H = 23, so no window without it) forecast from their first point on.
    assert summary["windows"] == {"train": 30 - 23 + 1, "eval": 15 - 3 + 1, "test": 15 - 3 + 1}
    props = examples.properties
    assert props["counts"] == summary["windows"]
    assert props["history_from_previous_split"] is True
    assert props["borrowed_steps"] == {"train": 0, "eval": lookback, "test": lookback}
    windows = {s: read_windows(examples.uri, s, config) for s in config.splits}
    # (b) no train window holds an eval or test value, in its history or its targets.
    for w in windows["train"]:
        assert max(w["history/value"]) < train_end and max(w["future/value"]) < train_end
    # (a) every target is in the window's own split, and each target step is forecast once.
    for split, lo, hi in (("eval", train_end, eval_end), ("test", eval_end, n)):
        targets = np.stack([w["future/value"] for w in windows[split]])
        assert targets.min() == lo and targets.max() == hi - 1
        for w in windows[split]:
            end = (w["window_end"] - T0_S) // HOUR_S
            # history is the L steps up to window_end, whatever split they are in
            history = np.arange(end - lookback + 1, end + 1)
            np.testing.assert_array_equal(w["history/value"], history)
            np.testing.assert_array_equal(w["history/cov"], -w["history/value"])
            np.testing.assert_array_equal(w["future/value"], np.arange(end + 1, end + 1 + horizon))
    first_test = windows["test"][0]["history/value"]
    assert first_test[0] < train_end and first_test[-1] == eval_end - 1  # from train and eval


def test_future_covariates_are_written_over_the_horizon(tmp_path: Path) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(40):
        stamp = (start + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S")
        holiday = "TRUE" if 24 <= i < 30 else "false"  # a boolean flag column, as 0/1
        rows.append(f"{stamp},{100 + i},{-5 + 0.5 * i},{holiday}")
    source = tmp_path / "load.csv"
    source.write_text("timestamp,load,temp,holiday\n" + "\n".join(rows) + "\n")
    config = IngestSeriesConfig(
        source=str(source), frequency="1h", targets=("load",),
        future_covariates=("temp", "holiday"), lookback=6, horizon=3,
        splits=("train", "eval"), split_fractions=(0.5, 0.5),
    )  # fmt: skip
    _summary, examples, _rejected = run_component(tmp_path, config)
    props = examples.properties
    assert props["covariates"] == ["temp", "holiday"]
    assert props["future_covariates"] == ["temp", "holiday"]
    windows = read_windows(examples.uri, "eval", config)
    assert windows
    for w in windows:
        step = int((w["window_end"] - start.timestamp()) // 3600)  # row index of window_end
        ahead = np.arange(step + 1, step + 4)
        np.testing.assert_allclose(w["future/load"], 100 + ahead)
        np.testing.assert_allclose(w["future/temp"], -5 + 0.5 * ahead)
        np.testing.assert_array_equal(w["future/holiday"], ((ahead >= 24) & (ahead < 30)) * 1.0)
        np.testing.assert_allclose(w["history/temp"], -5 + 0.5 * np.arange(step - 5, step + 1))
    with pytest.raises(ConfigError, match="also used by"):
        IngestSeriesConfig(
            source=str(source), frequency="1h", targets=("load",), covariates=("temp",),
            future_covariates=("temp",),
        )  # fmt: skip


def test_check_source_reads_headers_and_fingerprint_tracks_files(tmp_path: Path) -> None:
    csv_path = write_synthetic_series(tmp_path / "a" / "x.csv", 5, covariates=1)
    pq_path = write_synthetic_series(tmp_path / "b" / "x.parquet", 5, fmt="parquet")
    check_source(IngestSeriesConfig(source=csv_path, frequency="1h", covariates=("cov1",)))
    check_source(IngestSeriesConfig(source=str(tmp_path / "b"), format="parquet", frequency="1h"))
    with pytest.raises(ConfigError, match=r"missing \['temp'\]"):
        check_source(IngestSeriesConfig(source=csv_path, frequency="1h", covariates=("temp",)))
    with pytest.raises(ConfigError, match=r"missing \['id'\]"):
        check_source(
            IngestSeriesConfig(
                source=pq_path, format="parquet", frequency="1h", series_id_column="id"
            )
        )
    with pytest.raises(ConfigError, match="matches no file"):
        check_source(
            IngestSeriesConfig(
                source=str(tmp_path / "a" / "*.parquet"), format="parquet", frequency="1h"
            )
        )
    with pytest.raises(ConfigError, match="pyarrow cannot read"):
        check_source(IngestSeriesConfig(source=csv_path, format="parquet", frequency="1h"))

    config = IngestSeriesConfig(source=str(tmp_path / "a"), frequency="1h")
    before = source_fingerprint(config)
    assert source_fingerprint(config) == before
    with open(csv_path, "a") as f:
        f.write("2000-01-01T05:00:00,1.0,0.5\n")
    assert source_fingerprint(config) != before


def test_component_signature_and_light_imports() -> None:
    assert COMPONENT.name == "ingest_series" and COMPONENT.inputs == {}
    assert COMPONENT.outputs == {
        "examples": ArtifactType.SERIES_WINDOWS, "rejected": ArtifactType.REJECTED,
    }  # fmt: skip
    assert COMPONENT.config_type is IngestSeriesConfig and COMPONENT.check is check_source
    # Building and validating a pipeline must not import the heavy libraries.
    code = (
        "import sys; import seqline.components.ingest_series.component as c; "
        "c.IngestSeriesConfig(source='x.csv', frequency='MS'); "
        "heavy = ('tensorflow', 'apache_beam', 'numpy', 'pyarrow'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_a_series_too_short_for_any_window_is_counted_in_the_summary(tmp_path: Path) -> None:
    """Series "b" has 5 rows, fewer than lookback + horizon: its rows are accepted but give no
    window, and the run said only "accepted 105 of 105 rows from 2 series"."""
    rows = ["timestamp,series,value"]
    for h in range(100):
        rows.append(
            f"{dt.datetime.fromtimestamp(T0_S + h * HOUR_S, dt.UTC):%Y-%m-%dT%H:%M:%S},a,{h}"
        )
    for h in range(5):
        rows.append(
            f"{dt.datetime.fromtimestamp(T0_S + h * HOUR_S, dt.UTC):%Y-%m-%dT%H:%M:%S},b,{h}"
        )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "s.csv").write_text("\n".join(rows) + "\n")
    config = IngestSeriesConfig(
        source=str(tmp_path / "data"), frequency="1h", series_id_column="series", lookback=8,
        horizon=2, splits=("train",), split_fractions=(1.0,),
    )  # fmt: skip
    summary, examples, _rejected = run_component(tmp_path, config)
    assert summary["accepted"] == 105 and summary["series"] == 2
    assert summary["short_segments"] == 1
    assert summary["windows"] == {"train": 100 - 10 + 1}
