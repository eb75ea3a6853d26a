"""pipeline/tfrecord_batches.py: the chunked TFRecord reader gives the records Beam's own
TFRecord reader gives (same order, same checks), and ReadTFRecordBatches cuts them into lists
the way BatchElements(min=max=batch_size) cuts a stream."""

from __future__ import annotations

import gzip
import io
import struct

import pytest

beam = pytest.importorskip("apache_beam")

from apache_beam.io.tfrecordio import _TFRecordUtil  # noqa: E402

from seqline.pipeline.tfrecord_batches import ReadTFRecordBatches, read_tfrecords  # noqa: E402


def _framed(records: list[bytes]) -> bytes:
    """TFRecord bytes, written by Beam's own writer."""
    out = io.BytesIO()
    for record in records:
        _TFRecordUtil.write_record(out, record)
    return out.getvalue()


def _beam_records(data: bytes) -> list[bytes]:
    """What beam.io's TFRecord reader reads from `data`."""
    stream = io.BytesIO(data)
    records = []
    while (record := _TFRecordUtil.read_record(stream)) is not None:
        records.append(record)
    return records


RECORDS = [b"", b"a", b"\x00" * 3000, *(f"record {i}".encode() for i in range(50))]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 12, 100, 1 << 20])
def test_records_are_those_beams_reader_reads_whatever_the_chunk_size(chunk_bytes):
    data = _framed(RECORDS)
    got = list(read_tfrecords(io.BytesIO(data), "f", chunk_bytes=chunk_bytes))
    assert got == _beam_records(data) == RECORDS


def test_an_empty_stream_has_no_records():
    assert list(read_tfrecords(io.BytesIO(b""), "f")) == []


def test_a_record_longer_than_the_chunk_is_read_whole():
    data = _framed([b"x" * 10_000, b"y"])
    assert list(read_tfrecords(io.BytesIO(data), "f", chunk_bytes=16)) == [b"x" * 10_000, b"y"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:5], "Fewer than 12 bytes"),
        (lambda d: d[:-2], "Fewer than 8 bytes"),
        (lambda d: d[:8] + bytes([d[8] ^ 1]) + d[9:], "Mismatch of length mask"),
        (lambda d: d[:-5] + bytes([d[-5] ^ 1]) + d[-4:], "Mismatch of data mask"),
        (lambda d: struct.pack("<Q", 99) + d[8:], "Mismatch of length mask"),
    ],
    ids=["truncated-header", "truncated-data", "length-crc", "data-crc", "length"],
)
def test_damaged_records_fail_as_beams_reader_fails_naming_the_file(damage, message):
    data = damage(_framed([b"abcd"]))
    with pytest.raises(ValueError, match=message) as beams:
        _beam_records(data)
    with pytest.raises(ValueError, match=message) as ours:
        list(read_tfrecords(io.BytesIO(data), "/data/part-0", chunk_bytes=3))
    assert str(ours.value) == f"/data/part-0: {beams.value}"


def _write(path, records: list[bytes], compressed: bool) -> str:
    data = _framed(records)
    path.write_bytes(gzip.compress(data) if compressed else data)
    return str(path)


def _run(fn: ReadTFRecordBatches, paths: list[str]) -> list:
    fn.start_bundle()
    out = [b for p in paths for b in fn.process(p)]
    return out + [wv.value for wv in fn.finish_bundle()]


def test_batches_run_across_files_and_the_rest_is_flushed_at_bundle_end(tmp_path):
    a = _write(tmp_path / "a.tfrecord.gz", [b"a0", b"a1", b"a2", b"a3"], compressed=True)
    b = _write(tmp_path / "b.tfrecord", [b"b0", b"b1"], compressed=False)
    empty = _write(tmp_path / "c.tfrecord.gz", [], compressed=True)
    batches = _run(ReadTFRecordBatches(3), [a, empty, b])
    assert batches == [[b"a0", b"a1", b"a2"], [b"a3", b"b0", b"b1"]]


def test_one_record_makes_one_batch_and_no_records_make_none(tmp_path):
    one = _write(tmp_path / "one.tfrecord.gz", [b"only"], compressed=True)
    empty = _write(tmp_path / "none.tfrecord.gz", [], compressed=True)
    assert _run(ReadTFRecordBatches(1000), [one]) == [[b"only"]]
    assert _run(ReadTFRecordBatches(1000), [empty]) == []


def test_groups_are_batched_apart(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "eval").mkdir()
    t = _write(tmp_path / "train" / "d.gz", [b"t0", b"t1", b"t2"], compressed=True)
    e = _write(tmp_path / "eval" / "d.gz", [b"e0"], compressed=True)
    fn = ReadTFRecordBatches(2, group=lambda path: path.split("/")[-2])
    assert _run(fn, [t, e]) == [
        ("train", [b"t0", b"t1"]),
        ("eval", [b"e0"]),
        ("train", [b"t2"]),
    ]


def test_a_pipeline_reads_what_beams_reader_reads(tmp_path):
    from apache_beam.testing.util import assert_that, equal_to

    paths = [
        _write(tmp_path / f"d-{i}.tfrecord.gz", [f"{i}-{j}".encode() for j in range(7)], True)
        for i in range(3)
    ]
    with beam.Pipeline() as pipeline:
        ours = (
            pipeline
            | "Ours" >> beam.Create(paths)
            | beam.ParDo(ReadTFRecordBatches(4))
            | beam.FlatMap(lambda batch: batch)
        )
        theirs = pipeline | "Theirs" >> beam.Create(paths) | beam.io.ReadAllFromTFRecord()
        expected = [f"{i}-{j}".encode() for i in range(3) for j in range(7)]
        assert_that(ours, equal_to(expected), label="ours")
        assert_that(theirs, equal_to(expected), label="theirs")


def test_framed_records_are_what_beams_writer_writes():
    from seqline.pipeline.tfrecord_batches import frame_tfrecords

    assert frame_tfrecords(RECORDS) == _framed(RECORDS)
    assert frame_tfrecords([]) == b""


def test_writing_lists_gives_the_files_write_to_tfrecord_gives(tmp_path):
    import glob
    import os

    from seqline.pipeline.tfrecord_batches import WriteTFRecordBatches

    batches = [[f"{i}-{j}".encode() for j in range(i + 1)] for i in range(5)]
    with beam.Pipeline() as pipeline:
        lists = pipeline | beam.Create(batches, reshuffle=False)
        _ = lists | "Ours" >> WriteTFRecordBatches(
            str(tmp_path / "ours" / "data"), file_name_suffix=".tfrecord.gz"
        )
        _ = (
            lists
            | beam.FlatMap(lambda batch: batch)
            | "Theirs"
            >> beam.io.WriteToTFRecord(
                str(tmp_path / "theirs" / "data"), file_name_suffix=".tfrecord.gz"
            )
        )
    ours = sorted(glob.glob(str(tmp_path / "ours" / "*")))
    theirs = sorted(glob.glob(str(tmp_path / "theirs" / "*")))
    assert [os.path.basename(p) for p in ours] == [os.path.basename(p) for p in theirs]
    assert [os.path.basename(p) for p in ours] == ["data-00000-of-00001.tfrecord.gz"]
    with gzip.open(ours[0]) as f, gzip.open(theirs[0]) as g:
        assert f.read() == g.read() == _framed([r for batch in batches for r in batch])
