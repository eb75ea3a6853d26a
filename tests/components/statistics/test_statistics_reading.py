"""GenerateStatistics reads each split's files in lists of batch_size records
(pipeline/tfrecord_batches.py): the statistics are those of the same records decoded in
consecutive batches (direct_statistics, no Beam), for a split spread over several files (one
of them empty), a split with no records, a split of one window, and NaN values."""

from __future__ import annotations

import math

import pytest

from tests.components.statistics.helpers import direct_statistics, serialize

pytest.importorskip("apache_beam")
tf = pytest.importorskip("tensorflow")


def _window(series: str, end: int, value: float) -> dict:
    return {"series_id": [series], "window_end": [end], "history/value": [value, value + 1.0]}


SPLITS = {
    # 3 files: 4 records, none, 3 records; batches of 3 run across the file ends.
    "train": [
        [_window("a", 3600 * i, float(i)) for i in range(4)],
        [],
        [_window("b", 3600 * i, 10.0 + i) for i in range(3)],
    ],
    "eval": [[_window("a", 3600 * 9, float("nan"))]],  # one window, a NaN value
    "test": [[]],  # an empty shard, as ingest writes for an empty split
}


def test_statistics_of_batched_reads_equal_those_of_the_records(tmp_path):
    import apache_beam as beam

    from seqline.components.statistics.config import StatisticsConfig
    from seqline.components.statistics.statistics_files import read_statistics
    from seqline.components.statistics.transforms import GenerateStatistics

    config = StatisticsConfig(
        timestamp_feature="window_end", series_id_feature="series_id", batch_size=3
    )
    files = {}
    for split, shards in SPLITS.items():
        files[split] = []
        for i, records in enumerate(shards):
            path = str(tmp_path / f"{split}-{i:05d}-of-{len(shards):05d}.tfrecord.gz")
            with tf.io.TFRecordWriter(path, options="GZIP") as writer:
                for record in records:
                    writer.write(serialize(record))
            files[split].append(path)
    out = str(tmp_path / "out")
    with beam.Pipeline() as pipeline:
        _ = pipeline | GenerateStatistics(files, config, out)
    got = read_statistics(out)

    records = {split: [r for shard in shards for r in shard] for split, shards in SPLITS.items()}
    expected = direct_statistics(records, config, batch_size=3)
    assert [d.num_examples for d in got.datasets] == [7, 1, 0]
    assert got == expected
    eval_value = next(f for f in got.datasets[1].features if f.path.step == ["history/value"])
    custom = {c.name: c.num for c in eval_value.custom_stats}
    assert custom["num_nan"] == 2  # both NaNs counted, not lost in the batched read
    assert not math.isnan(eval_value.num_stats.max)  # and left out of min / max
