"""Progress lines from inside a Beam pipeline: "<label>: N records so far (r/s)".

A Beam step can run for minutes with nothing to show (ingest reads a million rows, the
transform analyzes and rewrites them). `ReportProgress` is a pass-through PTransform that
counts the elements going by and, at most every `interval_s` seconds (10 by default), sends
one line through the node's progress (ExecutionContext.progress):

    with beam_progress.reporting(ctx.progress) as key:        # the executor, around its run
        with beam.Pipeline(options=ctx.beam_options()) as pipeline:
            records = ... | "Progress" >> ReportProgress(key, "reading")

Design:
    - The transform and its DoFn are pickled and may run anywhere, so they hold no callback:
      only `key`, a random string naming an entry in this module's process-local registry.
      `reporting()` registers the executor's progress callback under a fresh key for the
      duration of the run and removes it afterwards.
    - Where the workers are this process (the default FnApiRunner in memory, its threads
      with --direct_num_workers, DirectRunner in_memory / multi_threading, PortableRunner
      LOOPBACK), the DoFn finds the key and reports. Where they are other processes
      (DirectRunner multi_processing, PortableRunner with an EXTERNAL worker pool, Dataflow,
      Flink, Spark), the key is not in their registry and the DoFn is a silent pass-through:
      nothing is sent back, nothing fails. Those runners have their own monitoring UIs.
    - Per element the DoFn only adds to a local integer; every `every` elements (1,000) and at
      the end of each bundle it adds that to the registered board, which holds the totals per
      label under a lock (DoFns run on several threads, one bundle per DoFn instance at a
      time) and reads the clock. Several steps with one label (e.g. the accepted and the
      rejected records of one read) share a total. The first line comes `interval_s` after a
      label's first count; a label's rate is counted from then.
    - Lines go out through the callback while the board's lock is held, so the callback is
      called one line at a time whatever thread counted (as runner._Serialized does for
      nodes); at most one line per label per interval, so workers hardly ever wait on it. A
      callback that raises is logged once and not called again: progress never fails a run.

`weigh` counts something other than elements (rows of an Arrow RecordBatch, points of a
batch): a picklable callable element -> int, e.g. operator.attrgetter("num_rows").

Imports apache_beam at the top: only executors import this module (inside their `run`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import apache_beam as beam

log = logging.getLogger(__name__)

# Seconds between two lines of one label. Read at `reporting()` time, so a test may lower it.
DEFAULT_INTERVAL_S = 10.0
# Elements a DoFn counts locally before it adds them to the board (and the clock is read).
CHECK_EVERY = 1000


class ProgressBoard:
    """Totals per label for one registration; thread-safe. `add` sends a line through
    `progress` when the label's last line (or its first count) is `interval_s` old or older."""

    def __init__(
        self,
        progress: Callable[[str], None],
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # label -> [count, start, time of the last line (start before the first)]
        self._labels: dict[str, list[float]] = {}
        self._failed = False  # the callback raised once: say nothing more

    def add(self, label: str, unit: str, n: int) -> None:
        with self._lock:
            now = self._clock()
            state = self._labels.get(label)
            if state is None:
                state = self._labels[label] = [0, now, now]
            state[0] += n
            if now - state[2] < self._interval_s:
                return
            state[2] = now
            count, elapsed = int(state[0]), now - state[1]
            rate = f" ({count / elapsed:.0f}/s)" if elapsed > 0 else ""
            if self._failed:
                return
            # Inside the lock: `progress` is called one line at a time and need not be
            # thread-safe; it is called at most once per interval per label.
            try:
                self._progress(f"{label}: {count} {unit} so far{rate}")
            except Exception:  # a progress line must never fail the data it reports on
                self._failed = True
                log.warning("progress reporting failed; no more progress lines", exc_info=True)

    def count(self, label: str) -> int:
        """The total added under `label` so far (0 for a label never seen)."""
        with self._lock:
            state = self._labels.get(label)
            return int(state[0]) if state else 0


_BOARDS: dict[str, ProgressBoard] = {}
_BOARDS_LOCK = threading.Lock()


@contextmanager
def reporting(
    progress: Callable[[str], None],
    interval_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """Registers a ProgressBoard over `progress` (lines at most every `interval_s`, default
    DEFAULT_INTERVAL_S) and yields its key for ReportProgress; removes it on exit, after which
    DoFns still holding the key say nothing."""
    key = uuid.uuid4().hex
    board = ProgressBoard(progress, DEFAULT_INTERVAL_S if interval_s is None else interval_s, clock)
    with _BOARDS_LOCK:
        _BOARDS[key] = board
    try:
        yield key
    finally:
        with _BOARDS_LOCK:
            _BOARDS.pop(key, None)


def board(key: str | None) -> ProgressBoard | None:
    """The board registered under `key` in this process, or None (another process, a run that
    ended, or no key)."""
    if key is None:
        return None
    with _BOARDS_LOCK:
        return _BOARDS.get(key)


class _CountFn(beam.DoFn):
    """Pass-through: yields each element unchanged and counts it (see the module docstring)."""

    def __init__(
        self,
        key: str | None,
        label: str,
        unit: str,
        weigh: Callable[[Any], int] | None,
        every: int,
    ) -> None:
        super().__init__()
        self._key = key
        self._label = label
        self._unit = unit
        self._weigh = weigh
        self._every = every

    def start_bundle(self) -> None:
        self._pending = 0

    def _flush(self) -> None:
        pending, self._pending = self._pending, 0
        found = board(self._key)
        if found is not None and pending:
            found.add(self._label, self._unit, pending)

    def process(self, element: Any) -> tuple[Any]:
        self._pending += 1 if self._weigh is None else self._weigh(element)
        if self._pending >= self._every:
            self._flush()
        return (element,)  # cheaper per element than a generator

    def finish_bundle(self) -> None:
        self._flush()


class ReportProgress(beam.PTransform):
    """PCollection -> the same elements, reporting "<label>: N <unit> so far (r/s)" through
    the progress registered under `key` (see `reporting`), at most every interval; silent
    where `key` is None or not registered in the worker's process.

    Args:
        key: from `reporting()`; None for no progress (a silent pass-through).
        label: what the line is about, e.g. "reading"; steps with one label share a total.
        unit: what is counted, e.g. "records", "rows", "examples".
        weigh: element -> how many units it holds (picklable; default 1 per element).
        every: units counted locally before the shared total and the clock are updated.
    """

    def __init__(
        self,
        key: str | None,
        label: str,
        unit: str = "records",
        weigh: Callable[[Any], int] | None = None,
        every: int = CHECK_EVERY,
    ) -> None:
        super().__init__()
        self._fn = _CountFn(key, label, unit, weigh, every)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        counted = beam.ParDo(self._fn)
        # Keep the element type, so downstream coders (and TFT) see what they saw before.
        if pcoll.element_type is not None:
            counted = counted.with_output_types(pcoll.element_type)
        return pcoll | "Count" >> counted
