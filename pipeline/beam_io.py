"""Beam building blocks shared by the components that ingest raw files.

    open_stream(readable_file)   a buffered, decompressed binary stream over a matched file
    BundleCounter                per-bundle (key, n) counts emitted in finish_bundle
    WriteRejections              Rejections -> `{uri}/rejected-*.jsonl` (see pipeline.quarantine)
    WriteJsonFn                  one element -> one small JSON file
    run_for_json                 runs one pipeline that writes a JSON file; returns its content

Imports apache_beam at the top: only executors import this module (inside their `run`), never
code the CLI runs at startup.
"""

from __future__ import annotations

import collections
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, cast

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.transforms.window import GlobalWindows

from seqline.pipeline.compressed_input import decompressed
from seqline.storage import filesystem

if TYPE_CHECKING:
    from seqline.pipeline.component import ExecutionContext

COUNTS = "counts"


class _RawStream(io.RawIOBase):
    """Adapts a Beam file handle with read() only (no readinto, not iterable) to io, so it can
    be wrapped in BufferedReader / TextIOWrapper and streamed line by line."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


def open_stream(readable_file: fileio.ReadableFile) -> IO[bytes]:
    """A buffered binary stream over a matched file, decompressing .gz/.bz2/... by suffix
    (pipeline/compressed_input.py: a truncated or corrupt compressed file raises DataError
    naming it, where Beam's own decompression would stop early without a word)."""
    handle = readable_file.open(
        mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED
    )
    if not isinstance(handle, io.BufferedIOBase):
        handle = io.BufferedReader(_RawStream(handle))
    return decompressed(cast(IO[bytes], handle), readable_file.metadata.path)


class BundleCounter:
    """Counts keys within one bundle, so a DoFn pays a dict update per element instead of two
    Beam steps (a Count transform); `emit()` yields the counts as (key, n) outputs on `tag` in
    the global window (what finish_bundle must yield) and clears them.

    Create one in start_bundle; downstream, combine the pairs per key (several per key).
    """

    def __init__(self, tag: str = COUNTS) -> None:
        self.tag = tag
        self.counts: collections.Counter[str] = collections.Counter()

    def maximum(self, key: str, value: int) -> None:
        """Keeps the largest `value` seen under `key` (combine such keys with max, not sum)."""
        self.counts[key] = max(self.counts[key], value)

    def emit(self) -> Iterator[beam.pvalue.TaggedOutput]:
        for key, n in self.counts.items():
            yield beam.pvalue.TaggedOutput(self.tag, GlobalWindows.windowed_value((key, n)))
        self.counts.clear()


def _rejection_line(rejection: Any) -> str:
    return json.dumps(rejection.to_json(), sort_keys=True)


class WriteRejections(beam.PTransform):
    """PCollection[Rejection] -> `{uri}/rejected-SSSSS-of-NNNNN.jsonl`, one JSON object a line
    ({"source", "position", "reason", "message", "record"}, keys sorted; non-ASCII escaped, so
    the file is valid UTF-8 whatever the rejected bytes were). Elements need `to_json()`."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri.rstrip("/")

    def expand(self, rejections: beam.PCollection) -> Any:
        return (
            rejections
            | "ToJson" >> beam.Map(_rejection_line)
            | "Write" >> beam.io.WriteToText(f"{self._uri}/rejected", file_name_suffix=".jsonl")
        )


class WriteJsonFn(beam.DoFn):
    """element -> writes `to_document(element)` as JSON to `path` (any Beam filesystem); yields
    the path. For one element (e.g. a gathered list of counts), so one small file: cheaper than
    a sharded WriteToText. `to_document` must be picklable (a module-level function)."""

    def __init__(self, path: str, to_document: Callable[[Any], Any]) -> None:
        self._path = path
        self._to_document = to_document

    def process(self, element: Any) -> Iterator[str]:
        from apache_beam.io.filesystems import FileSystems  # noqa: PLC0415

        with FileSystems.create(self._path) as f:
            f.write(json.dumps(self._to_document(element)).encode("utf-8"))
        yield self._path


def run_for_json(
    ctx: ExecutionContext,
    label: str,
    make_transform: Callable[[str], beam.PTransform],
    file_name: str,
    scratch_prefix: str,
) -> Any:
    """Runs one Beam pipeline, `PBegin | label >> make_transform(json_path)`, with the
    execution's options and returns the JSON document the transform wrote to `json_path`.

    `json_path` is `file_name` in the execution's temp_dir, or in a temporary directory named
    `{scratch_prefix}*` (removed afterwards) when the context has none.
    """
    own_scratch = not ctx.temp_dir
    scratch = ctx.temp_dir or tempfile.mkdtemp(prefix=scratch_prefix)
    json_path = filesystem.join(scratch, file_name)
    try:
        with beam.Pipeline(options=ctx.beam_options()) as pipeline:
            _ = pipeline | label >> make_transform(json_path)
        return json.loads(filesystem.read_text(json_path))
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
