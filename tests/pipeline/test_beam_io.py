"""pipeline/beam_io.py under TestPipeline (FnApiRunner, in memory)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import tempfile

import pytest

beam = pytest.importorskip("apache_beam")

from apache_beam.io import fileio  # noqa: E402
from apache_beam.io.filesystem import CompressionTypes  # noqa: E402
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from seqline.pipeline.beam_io import (  # noqa: E402
    COUNTS,
    BundleCounter,
    WriteJsonFn,
    WriteRejections,
    open_stream,
    run_for_json,
)
from seqline.pipeline.beam_options import make_pipeline_options  # noqa: E402
from seqline.pipeline.quarantine import Rejection  # noqa: E402
from tests.components.context import make_context  # noqa: E402


def fn_api_pipeline() -> BeamTestPipeline:
    # FnApiRunner: the default local runner would try to download Prism first.
    return BeamTestPipeline(options=make_pipeline_options())


class _CountLengthsFn(beam.DoFn):
    def start_bundle(self) -> None:
        self._counter = BundleCounter()

    def process(self, word: str):
        self._counter.counts["words"] += 1
        self._counter.maximum("max:length", len(word))
        yield word.upper()

    def finish_bundle(self):
        yield from self._counter.emit()


def test_bundle_counter_emits_counts_and_maxima_on_the_counts_tag() -> None:
    with fn_api_pipeline() as p:
        out = (
            p
            | beam.Create(["a", "abc", "ab"])
            | beam.ParDo(_CountLengthsFn()).with_outputs(COUNTS, main="words")
        )
        assert_that(out.words, equal_to(["A", "ABC", "AB"]), label="main")
        counts = (
            out[COUNTS]
            | beam.GroupByKey()
            | beam.MapTuple(lambda k, v: (k, max(v) if k.startswith("max:") else sum(v)))
        )
        assert_that(counts, equal_to([("words", 3), ("max:length", 3)]), label="counts")


def _lines(path) -> list[str]:
    return [line for line in (path).read_text().splitlines() if line]


def test_write_rejections_writes_sorted_ascii_json_lines(tmp_path) -> None:
    rejections = [
        Rejection("a.csv", 2, "bad", "why", "caf\u00e9"),
        Rejection("b.csv", 5, "worse", "how", "x"),
    ]
    with fn_api_pipeline() as p:
        _ = p | beam.Create(rejections) | WriteRejections(str(tmp_path / "rejected") + "/")
    files = sorted((tmp_path / "rejected").glob("rejected-*.jsonl"))
    assert files
    lines = [line for f in files for line in _lines(f)]
    assert sorted(json.loads(line)["position"] for line in lines) == [2, 5]
    assert all(line.isascii() for line in lines)
    first = next(line for line in lines if '"a.csv"' in line)
    assert list(json.loads(first)) == ["message", "position", "reason", "record", "source"]
    assert json.loads(first)["record"] == "caf\u00e9"


def _document(pairs):
    return {"total": sum(n for _, n in pairs)}


def test_write_json_fn_writes_one_document(tmp_path) -> None:
    path = str(tmp_path / "counts.json")
    with fn_api_pipeline() as p:
        written = p | beam.Create([[("a", 1), ("b", 2)]]) | beam.ParDo(WriteJsonFn(path, _document))
        assert_that(written, equal_to([path]))
    assert json.loads((tmp_path / "counts.json").read_text()) == {"total": 3}


def test_open_stream_reads_plain_and_gzip_files_line_by_line(tmp_path) -> None:
    (tmp_path / "a.txt").write_bytes(b"one\ntwo\n")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(b"three\n"))

    def lines(readable_file):
        with open_stream(readable_file) as stream:
            return [line.rstrip(b"\n").decode() for line in stream]

    with fn_api_pipeline() as p:
        out = (
            p
            | beam.Create([str(tmp_path / "a.txt"), str(tmp_path / "b.txt.gz")])
            | fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
            | beam.FlatMap(lines)
        )
        assert_that(out, equal_to(["one", "two", "three"]))


class _WriteTotal(beam.PTransform):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, pbegin):
        return (
            pbegin
            | beam.Create([[("a", 1), ("b", 2)]])
            | beam.ParDo(WriteJsonFn(self._path, _document))
        )


def test_run_for_json_returns_the_document_and_keeps_the_executions_temp_dir(tmp_path) -> None:
    ctx = make_context(None, {}, {}, temp_dir=str(tmp_path))
    assert run_for_json(ctx, "Total", _WriteTotal, "total.json", "x-") == {"total": 3}
    assert json.loads((tmp_path / "total.json").read_text()) == {"total": 3}


def test_run_for_json_removes_its_own_scratch_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ctx = dataclasses.replace(make_context(None, {}, {}), temp_dir="")
    assert run_for_json(ctx, "Total", _WriteTotal, "total.json", "x-") == {"total": 3}
    assert list(tmp_path.glob("x-*")) == []
