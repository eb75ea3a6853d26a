"""beam_progress: the pass-through ReportProgress and its process-local progress boards."""

from __future__ import annotations

import operator
import pickle
import re
import threading

import apache_beam as beam
from apache_beam.internal import pickler
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from seqline.pipeline import beam_progress
from seqline.pipeline.beam_options import make_pipeline_options
from seqline.pipeline.beam_progress import ProgressBoard, ReportProgress

LINE = re.compile(r"^(?P<label>.+): (?P<n>\d+) (?P<unit>\w+) so far( \((?P<rate>\d+)/s\))?$")


def fn_api_pipeline() -> BeamTestPipeline:
    # FnApiRunner (seqline's default): in memory, its workers are this process.
    return BeamTestPipeline(options=make_pipeline_options())


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_board_reports_at_most_once_per_interval_with_the_running_total() -> None:
    clock, lines = FakeClock(), []
    board = ProgressBoard(lines.append, interval_s=10.0, clock=clock)
    for now, n in [(0.0, 1000), (5.0, 1000), (9.9, 1000), (10.0, 1000), (15.0, 500), (19.9, 1)]:
        clock.now = now
        board.add("reading", "records", n)
    # The first line comes one interval after the label's first count, none before the next.
    assert lines == ["reading: 4000 records so far (400/s)"]
    clock.now = 20.0
    board.add("reading", "records", 499)
    assert lines[1:] == ["reading: 5000 records so far (250/s)"]
    assert board.count("reading") == 5000


def test_labels_have_their_own_totals_rates_and_intervals() -> None:
    clock, lines = FakeClock(), []
    board = ProgressBoard(lines.append, interval_s=10.0, clock=clock)
    board.add("analyzing 'train'", "examples", 100)
    clock.now = 10.0
    board.add("transforming", "examples", 7)  # its first count: its interval starts now
    board.add("analyzing 'train'", "examples", 100)
    clock.now = 20.0
    board.add("transforming", "examples", 3)
    assert lines == [
        "analyzing 'train': 200 examples so far (20/s)",
        "transforming: 10 examples so far (1/s)",
    ]
    assert (board.count("analyzing 'train'"), board.count("unseen")) == (200, 0)


def test_a_failing_callback_never_fails_the_counting() -> None:
    calls: list[str] = []

    def broken(line: str) -> None:
        calls.append(line)
        raise BrokenPipeError("stdout closed")

    board = ProgressBoard(broken, interval_s=0.0)
    board.add("reading", "records", 10)
    board.add("reading", "records", 5)  # no second attempt after the first failure
    assert calls == ["reading: 10 records so far"]
    assert board.count("reading") == 15


def test_counts_from_many_threads_add_up() -> None:
    board = ProgressBoard(lambda _line: None, interval_s=0.0)
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(500):
            board.add("reading", "records", 3)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert board.count("reading") == 8 * 500 * 3


def test_dofn_counts_locally_and_updates_the_board_every_n_and_at_bundle_end() -> None:
    with beam_progress.reporting(lambda _line: None) as key:
        board = beam_progress.board(key)
        assert board is not None
        fn = pickler.loads(pickler.dumps(ReportProgress(key, "reading", every=1000)))._fn
        fn.start_bundle()
        seen = []
        for i in range(2500):
            assert list(fn.process(i)) == [i]  # the element, unchanged
            seen.append(board.count("reading"))
        assert seen[998] == 0 and seen[999] == 1000 and seen[1999] == 2000 and seen[-1] == 2000
        fn.finish_bundle()
        assert board.count("reading") == 2500


def test_in_a_pipeline_elements_pass_unchanged_and_the_total_is_reported() -> None:
    lines: list[str] = []
    clock = FakeClock()
    data = [b"a", b"bb", b"ccc"] * 700
    with beam_progress.reporting(lines.append, interval_s=0.0, clock=clock) as key:
        board = beam_progress.board(key)
        with fn_api_pipeline() as pipeline:
            out = (
                pipeline
                | beam.Create(data)
                | "Progress" >> ReportProgress(key, "reading", every=100)
                | "Rejected" >> ReportProgress(key, "reading", "records")  # shares the total
            )
            assert_that(out, equal_to(data))
    assert board is not None and board.count("reading") == 2 * len(data)
    parsed = [LINE.match(line) for line in lines]
    assert lines and all(parsed), lines
    assert max(int(m["n"]) for m in parsed if m) == 2 * len(data)
    # Registration ends with the run: a DoFn still holding the key finds nothing.
    assert beam_progress.board(key) is None


def test_weigh_counts_units_inside_each_element() -> None:
    lines: list[str] = []
    batches = [[1, 2, 3], [4], [], [5, 6]]
    with beam_progress.reporting(lines.append, interval_s=0.0) as key:
        board = beam_progress.board(key)
        with fn_api_pipeline() as pipeline:
            out = (
                pipeline | beam.Create(batches) | ReportProgress(key, "reading", "rows", weigh=len)
            )
            assert_that(out, equal_to(batches))
    assert board is not None and board.count("reading") == 6
    assert lines and lines[-1].startswith("reading: 6 rows so far")


def test_a_key_unknown_in_this_process_is_a_silent_pass_through() -> None:
    lines: list[str] = []
    with beam_progress.reporting(lines.append, interval_s=0.0), fn_api_pipeline() as pipeline:
        out = (
            pipeline
            | beam.Create(range(3000))
            | "Unknown" >> ReportProgress("registered-in-another-process", "reading")
            | "NoKey" >> ReportProgress(None, "reading")
        )
        assert_that(out, equal_to(list(range(3000))))
    assert lines == []


def test_the_transform_pickles_without_the_callback() -> None:
    lock = threading.Lock()  # unpicklable: a callback holding it cannot travel to a worker

    def progress(line: str) -> None:
        with lock:
            pass

    with beam_progress.reporting(progress, interval_s=0.0) as key:
        transform = ReportProgress(key, "analyzing", "examples", operator.attrgetter("num_rows"))
        for dumps, loads in ((pickler.dumps, pickler.loads), (pickle.dumps, pickle.loads)):
            copy = loads(dumps(transform))
            assert isinstance(copy, ReportProgress)
            fn = copy._fn
            assert (fn._key, fn._label, fn._unit) == (key, "analyzing", "examples")
