"""series_chunks groups a whole RecordBatch at once (no per-example Python): the same series,
in the same order, with the same timestamps and out-of-order counts as grouping row by row
(`_row_by_row`, the per-row loop it replaced), on the awkward batches too."""

from __future__ import annotations

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pytest.importorskip("tfx_bsl")

from seqline.components.statistics.series_stats import (  # noqa: E402
    SeriesChunk,
    series_chunks,
    summarize_series,
)


def _row_by_row(batch, timestamp_feature: str, series_id_feature: str) -> list:
    """Reference: one row at a time, in plain Python."""
    names = batch.schema.names
    if timestamp_feature not in names or series_id_feature not in names:
        return []
    stamps = batch.column(timestamp_feature).to_pylist()
    ids = batch.column(series_id_feature).to_pylist()
    by_series: dict[str, SeriesChunk] = {}
    for row_stamps, row_ids in zip(stamps, ids, strict=True):
        if not row_ids or row_ids[0] is None or not row_stamps:
            continue
        series_id = row_ids[0]
        key = (
            series_id.decode("utf-8", "replace") if isinstance(series_id, bytes) else str(series_id)
        )
        chunk = by_series.setdefault(key, SeriesChunk())
        values = np.asarray(row_stamps, dtype=np.float64)
        chunk.timestamps.append(values)
        if values.size > 1 and bool((np.diff(values) < 0).any()):
            chunk.out_of_order += 1
    return list(by_series.items())


def _flat(chunks: list) -> list:
    """(key, all timestamps in order, out_of_order) per series, comparable with ==."""
    return [
        (key, np.concatenate(c.timestamps).tolist() if c.timestamps else [], c.out_of_order)
        for key, c in chunks
    ]


def _batch(stamps: list, ids: list, stamp_type=None, id_type=None) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array(stamps, type=stamp_type or pa.large_list(pa.int64())),
            pa.array(ids, type=id_type or pa.large_list(pa.large_binary())),
        ],
        names=["t", "id"],
    )


def _check(batch: pa.RecordBatch, one_array: bool = True) -> list:
    got = series_chunks(batch, "t", "id")
    assert _flat(got) == _flat(_row_by_row(batch, "t", "id"))
    if one_array:  # one array per series per batch, not one per row
        assert [len(chunk.timestamps) for _key, chunk in got] == [1] * len(got)
    return got


def test_windows_of_interleaved_series_group_in_first_appearance_order():
    got = _check(
        _batch(
            [[30], [10], [20], [40], [5], [50]],
            [[b"b"], [b"a"], [b"b"], [b"a"], [b"c"], [b"b"]],
        )
    )
    assert _flat(got) == [("b", [30, 20, 50], 0), ("a", [10, 40], 0), ("c", [5], 0)]


def test_missing_ids_empty_and_null_timestamps_are_skipped():
    _check(
        _batch(
            [[1], None, [], [3, 2], [4], [6, 7, 5], [8]],
            [[b"a"], [b"a"], [b"a"], [b"a"], None, [b"b"], []],
        )
    )


def test_out_of_order_counts_examples_whose_own_timestamps_decrease():
    got = _check(_batch([[3, 2, 1], [1, 2], [5, 4], [9]], [[b"a"], [b"a"], [b"b"], [b"a"]]))
    assert [(key, chunk.out_of_order) for key, chunk in got] == [("a", 1), ("b", 1)]


def test_one_window_an_empty_batch_and_a_batch_with_no_usable_row():
    assert _flat(_check(_batch([[7]], [[b"only"]]))) == [("only", [7], 0)]
    assert _check(_batch([], [])) == []
    assert _check(_batch([None, []], [[b"a"], [b"a"]])) == []


def test_integer_ids_float_timestamps_and_bad_utf8_keys():
    _check(
        _batch(
            [[1.5], [0.5], [2.5]],
            [[7], [3], [7]],
            stamp_type=pa.large_list(pa.float32()),
            id_type=pa.large_list(pa.int64()),
        )
    )
    # Two raw ids with the same str form are one series, as before.
    got = _check(_batch([[1], [2], [3]], [[b"\xff"], [b"\xfe"], [b"ok"]]), one_array=False)
    assert [key for key, _ in got] == ["\ufffd", "ok"]


def test_a_sliced_batch_reads_only_its_own_rows():
    batch = _batch([[1], [2, 3], [4], [5]], [[b"a"], [b"b"], [b"a"], [b"b"]]).slice(1, 2)
    assert _flat(_check(batch)) == [("b", [2, 3], 0), ("a", [4], 0)]


def test_random_batches_summarize_as_row_by_row():
    rng = np.random.default_rng(3)
    for _ in range(20):
        rows = int(rng.integers(1, 200))
        stamps = []
        for _row in range(rows):
            kind = rng.integers(0, 10)
            if kind == 0:
                stamps.append(None)
            else:
                stamps.append(rng.integers(0, 50, size=int(rng.integers(0, 4))).tolist())
        ids = [
            None if rng.integers(0, 15) == 0 else [f"s{int(rng.integers(0, 5))}".encode()]
            for _row in range(rows)
        ]
        batch = _batch(stamps, ids)
        got = _check(batch)
        expected = _row_by_row(batch, "t", "id")
        assert [summarize_series(c) for _k, c in got] == [summarize_series(c) for _k, c in expected]
