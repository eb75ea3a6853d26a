"""Server-side batching: concurrent Predict calls on one signature become one signature call.

Semantics follow TF Serving's shared batch scheduler: requests for the same (version,
signature, input dtypes and trailing shapes) join the open batch of their queue; a batch closes
when it holds ``max_batch_size`` rows or its oldest request has waited
``batch_timeout_micros``; ``num_batch_threads`` threads run closed batches (inputs concatenated
along dimension 0, outputs split back by each request's row count). A queue holding
``max_enqueued_batches`` batches rejects new requests with UNAVAILABLE ("The batch scheduling
queue to which this task was submitted is full" - TF Serving's code, so clients retry with
backoff), and a request larger than ``max_batch_size`` is INVALID_ARGUMENT.

As in TF Serving's BatchingSession: with ``allowed_batch_sizes`` a batch is padded up to the
smallest allowed size with copies of the first row of its last request (a real input row, so
always valid) and the padded rows' outputs are dropped; with ``pad_variable_length_inputs``
requests whose inputs differ in non-batch dimensions share a batch, each input padded to the
batch's largest size in every dimension with its own first element.

A batch that is due keeps taking requests until a batch thread is free to run it, so while
the threads are busy the next batch fills up: under load batches grow towards
``max_batch_size`` without a longer timeout.

Unlike TF Serving, one request cannot fail the others it was merged with: when a merged run
fails (a graph error on some request's data, e.g. an unparsable Example), each of its
requests is run alone and only the failing ones get the error. That costs one run per request
for such a batch, and nothing for a batch that succeeds.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from seqline.serving.errors import (
    Code,
    ServerConfigError,
    ServingError,
    failed_precondition,
    invalid_argument,
)
from seqline.serving.server.servable import Servable
from seqline.serving.server.signature_runner import SignatureRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchingOptions:
    """Batching parameters (TF Serving's names).

    The defaults are the settings that made batching pay on a compute-heavy model (GRU(256),
    docs/operations.md, "When to turn batching on"): timeout 0, as in TF Serving's batch
    scheduler, because under load a due batch keeps filling until a thread is free. The
    server runs one batch thread per CPU core by default (ServerOptions.num_batch_threads 0):
    Session runs release the GIL, so two threads kept both cores busy.

    max_batch_size: rows per merged call (default 32). batch_timeout_micros: how long the
    first request of a batch waits for company (default 0). num_batch_threads: threads
    running batches (default 1 here; the server passes one per core).
    max_enqueued_batches: batches a queue may hold (default 100).
    allowed_batch_sizes: sizes a batch is padded up to (default none: run as formed).
    pad_variable_length_inputs: pad non-batch dimensions so such requests batch together.
    """

    max_batch_size: int = 32
    batch_timeout_micros: int = 0
    num_batch_threads: int = 1
    max_enqueued_batches: int = 100
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self) -> None:
        sizes = self.allowed_batch_sizes
        if sizes and (
            list(sizes) != sorted(set(sizes)) or sizes[0] < 1 or sizes[-1] != self.max_batch_size
        ):
            raise ServerConfigError(
                f"allowed_batch_sizes: expected increasing sizes ending with max_batch_size "
                f"({self.max_batch_size}), as TF Serving requires; got {list(sizes)}"
            )


class _RunFailed(Exception):
    """A signature run failed with ``error``: the batch may hold a request the others can
    run without."""

    def __init__(self, error: ServingError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    outputs: dict[str, np.ndarray] | None = None
    error: BaseException | None = None


@dataclass
class _Batch:
    created: float
    tasks: list[_Task] = field(default_factory=list)
    rows: int = 0
    open: bool = True


@dataclass
class _Queue:
    servable: Servable
    runner: SignatureRunner
    batches: collections.deque[_Batch] = field(default_factory=collections.deque)


class BatchScheduler:
    """Merges concurrent signature calls; ``run`` has the signature of inference.direct_run."""

    def __init__(self, options: BatchingOptions, metrics=None) -> None:
        self.options = options
        self._timeout = options.batch_timeout_micros / 1e6
        self._metrics = metrics
        self._cv = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}
        self._closed = False
        self._threads = [
            threading.Thread(target=self._worker, name=f"seqline-batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(
        self, servable: Servable, runner: SignatureRunner, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Runs ``runner(inputs)`` as part of a merged batch (directly if not batchable)."""
        if not runner.batchable or not inputs:
            return runner(inputs)
        sizes = {array.shape[0] for array in inputs.values()}
        if len(sizes) != 1:
            raise invalid_argument(
                "Batching Run() input tensors must have equal 0th-dimension size, got "
                f"{ {alias: a.shape[0] for alias, a in inputs.items()} }"
            )
        rows = sizes.pop()
        if rows > self.options.max_batch_size:
            raise invalid_argument(
                f"Task size {rows} is larger than maximum input batch size "
                f"{self.options.max_batch_size}; send at most that many rows per request"
            )
        if rows == 0:
            return runner(inputs)
        # Requests batch together when their inputs can be concatenated: same trailing
        # shapes, or (padding on) the same ranks.
        pad = self.options.pad_variable_length_inputs
        key = (
            id(servable),
            runner.name,
            tuple(
                sorted((a, v.dtype.str, v.ndim if pad else v.shape[1:]) for a, v in inputs.items())
            ),
        )
        task = _Task(inputs=inputs, rows=rows)
        with self._cv:
            if self._closed:
                raise ServingError(Code.UNAVAILABLE, "the server is shutting down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(servable=servable, runner=runner)
            batch = queue.batches[-1] if queue.batches and queue.batches[-1].open else None
            if batch is None or batch.rows + rows > self.options.max_batch_size:
                if len(queue.batches) >= self.options.max_enqueued_batches:
                    raise ServingError(
                        Code.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full "
                        f"(max_enqueued_batches={self.options.max_enqueued_batches}); retry "
                        "with backoff or raise max_enqueued_batches",
                    )
                if batch is not None:
                    batch.open = False
                batch = _Batch(created=time.monotonic())
                queue.batches.append(batch)
            batch.tasks.append(task)
            batch.rows += rows
            if batch.rows >= self.options.max_batch_size:
                batch.open = False
            self._cv.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        assert task.outputs is not None
        return task.outputs

    def _next_batch(self) -> tuple[_Queue, _Batch] | None:
        """Pops the oldest runnable batch (waiting as needed); None once closed."""
        with self._cv:
            while True:
                if self._closed and not any(q.batches for q in self._queues.values()):
                    return None
                now = time.monotonic()
                best: tuple[tuple, _Queue] | None = None
                wake_at: float | None = None
                for key, queue in self._queues.items():
                    if not queue.batches:
                        continue
                    head = queue.batches[0]
                    due = head.created + self._timeout
                    if not head.open or due <= now or self._closed:
                        if best is None or head.created < best[1].batches[0].created:
                            best = (key, queue)
                    elif wake_at is None or due < wake_at:
                        wake_at = due
                if best is not None:
                    key, queue = best
                    batch = queue.batches.popleft()
                    batch.open = False
                    if not queue.batches:
                        del self._queues[key]
                    return queue, batch
                self._cv.wait(None if wake_at is None else max(wake_at - now, 0.0))

    def _worker(self) -> None:
        while True:
            item = self._next_batch()
            if item is None:
                return
            queue, batch = item
            self._execute(queue, batch)
            with self._cv:  # a finished batch may let the next one start early
                self._cv.notify()

    def _execute(self, queue: _Queue, batch: _Batch) -> None:
        tasks = batch.tasks
        try:
            try:
                outputs_per_task = self._run(queue, tasks, batch.rows)
            except _RunFailed as failed:
                if len(tasks) == 1:
                    raise failed.error from None
                # The merged run failed on some request's data (a graph error such as an
                # unparsable Example): run each request alone so only the bad ones fail.
                log.debug("a batch of %d requests failed (%s); running them one by one",
                          len(tasks), failed.error)  # fmt: skip
                for task in tasks:
                    try:
                        (task.outputs,) = self._run(queue, [task], task.rows)
                    except _RunFailed as alone:
                        task.error = alone.error
                    except BaseException as e:
                        task.error = e
                    task.done.set()
                return
        except BaseException as e:  # every waiting request must hear about the failure
            for task in tasks:
                task.error = e
                task.done.set()
            return
        for task, outputs in zip(tasks, outputs_per_task, strict=True):
            task.outputs = outputs
            task.done.set()

    def _run(self, queue: _Queue, tasks: list[_Task], rows: int) -> list[dict[str, np.ndarray]]:
        """One signature run over ``tasks`` (``rows`` in all, padded to an allowed batch size);
        returns each task's outputs. _RunFailed when the run itself fails; FAILED_PRECONDITION
        when its outputs are not batch-major."""
        size = _padded_size(self.options.allowed_batch_sizes, rows)
        single = len(tasks) == 1 and size == rows
        if single:
            inputs = tasks[0].inputs
        else:
            inputs = {
                alias: _merge([t.inputs[alias] for t in tasks], size - rows)
                for alias in tasks[0].inputs
            }
        try:
            outputs = queue.runner(inputs)
        except ServingError as e:
            raise _RunFailed(e) from e
        if self._metrics is not None:
            self._metrics.observe_batch(queue.servable.name, queue.runner.name, size)
        return [outputs] if single else _split(outputs, [t.rows for t in tasks], size)

    def pending_batches(self) -> int:
        """Batches waiting to run, over all queues (not counting running ones)."""
        with self._cv:
            return sum(len(q.batches) for q in self._queues.values())

    def close(self) -> None:
        """Runs what is queued, then stops the threads; later calls get UNAVAILABLE."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)


def _padded_size(allowed: tuple[int, ...], rows: int) -> int:
    """The smallest allowed batch size holding ``rows`` (``rows`` when none are set)."""
    for size in allowed:
        if size >= rows:
            return size
    return rows


def _merge(arrays: list[np.ndarray], padding_rows: int) -> np.ndarray:
    """Concatenates the requests' arrays along dimension 0.

    Arrays differing in other dimensions (pad_variable_length_inputs) are first padded to the
    largest size in each, with their own first element (TF Serving's choice: a value the
    model has seen). ``padding_rows`` copies of the last array's first row complete the batch.
    """
    target = tuple(max(sizes) for sizes in zip(*(a.shape[1:] for a in arrays), strict=True))
    padded = []
    for array in arrays:
        if array.shape[1:] != target and array.size:
            full = np.full((array.shape[0], *target), array.flat[0], dtype=array.dtype)
            full[tuple(slice(0, n) for n in array.shape)] = array
            array = full
        padded.append(array)
    if padding_rows:
        padded.append(np.repeat(padded[-1][:1], padding_rows, axis=0))
    return np.concatenate(padded, axis=0)


def _split(
    outputs: dict[str, np.ndarray], rows: list[int], total: int
) -> list[dict[str, np.ndarray]]:
    """Per-request slices of the batch's outputs (rows beyond sum(rows) are padding)."""
    for alias, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise failed_precondition(
                f"Batched output tensor '{alias}' has shape {list(array.shape)}; its 0th "
                f"dimension must equal the {total} rows of the merged inputs. Turn batching off "
                "for this model or make every output batch-major"
            )
    bounds = np.cumsum([0, *rows])
    return [
        {alias: array[bounds[i] : bounds[i + 1]] for alias, array in outputs.items()}
        for i in range(len(rows))
    ]
