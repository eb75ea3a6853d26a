"""Statistics over TFRecords whose name does not say how they are compressed (serving logs
handed to validate's skew check are often gzip files named `requests-00000-of-00001`)."""

from __future__ import annotations

import os

import pytest

from tests.components.statistics.helpers import serialize


def _write(path: str, compressed: bool) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path, options="GZIP" if compressed else None) as writer:
        for i in range(5):
            writer.write(serialize({"text": [f"record {i}"], "label": ["pos"]}))


def _statistics(files: list[str], out: str):
    import apache_beam as beam

    from seqline.components.statistics.config import StatisticsConfig
    from seqline.components.statistics.statistics_files import read_statistics
    from seqline.components.statistics.transforms import GenerateStatistics

    with beam.Pipeline() as pipeline:
        _ = pipeline | GenerateStatistics({"serving": files}, StatisticsConfig(), out)
    return read_statistics(out)


def test_a_gzip_file_without_the_gz_suffix_is_refused_naming_it_and_the_fix(tmp_path):
    path = str(tmp_path / "requests-00000-of-00001")
    _write(path, compressed=True)
    from seqline.pipeline.errors import DataError

    with pytest.raises(DataError) as error:
        _statistics([path], str(tmp_path / "out"))
    message = str(error.value)
    assert path in message
    assert "a gzip file without the .gz suffix" in message
    assert "rename it to end in .gz" in message


def test_plain_and_suffixed_files_are_read_as_before(tmp_path):
    plain = str(tmp_path / "requests-00000-of-00002")
    gz = str(tmp_path / "requests-00001-of-00002.gz")
    _write(plain, compressed=False)
    _write(gz, compressed=True)
    statistics = _statistics([plain, gz], str(tmp_path / "out"))
    assert statistics.datasets[0].num_examples == 10
    assert os.path.exists(tmp_path / "out")


def test_compression_by_magic_names_the_formats_readers_know():
    import bz2
    import gzip
    import lzma

    from seqline.pipeline.compressed_input import MAGIC_BYTES, compression_by_magic

    assert compression_by_magic(gzip.compress(b"x")[:MAGIC_BYTES]) == "gzip"
    assert compression_by_magic(bz2.compress(b"x")[:MAGIC_BYTES]) == "bzip2"
    assert compression_by_magic(lzma.compress(b"x")[:MAGIC_BYTES]) == "lzma"
    assert compression_by_magic(b"\x0a\x00\x00\x00\x00\x00") is None  # a TFRecord length
    assert compression_by_magic(b"") is None
