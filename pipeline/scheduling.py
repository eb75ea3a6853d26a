"""Which node runs when: independent nodes at once, at most `max_parallel` of them.

The runner (pipeline/runner.py) hands `schedule` the pipeline's nodes (topologically sorted)
and a function that runs one node. A node starts once every upstream node has succeeded; among
ready nodes the one earliest in the pipeline's order starts first, so `max_parallel=1` runs
the nodes one by one in exactly the pipeline's order, in the calling thread.

With `max_parallel > 1` each node runs in its own thread (named `seqline:{node_id}`), at
most `max_parallel` at a time. Threads, not processes: every node of a run shares one
interpreter that has imported TensorFlow, TFT and Beam once (a process per node would pay
their ~3 s import and ~400 MB each, against issue 13's 1 GB peak target), and the heavy work
of a node runs in TensorFlow's C++ kernels, Beam workers or a child process
(infra_validate's server), which do not hold the GIL.

Failures: a node that raises fails; every node downstream of it is skipped (never started);
nodes that do not depend on it still run to the end, whatever `max_parallel` is, so the set
of nodes that ran never depends on timing. The first failure is returned for the runner to
raise. KeyboardInterrupt and SystemExit stop the schedule at once (nodes running in other
threads cannot be interrupted; their threads are daemons, so the process can exit). The
runner then ends the run for them: their executions are recorded FAILED as interrupted, their
scratch folders removed, and whatever they do afterwards is neither recorded nor reported
(pipeline/runner.py, _end_failed_run).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence

from seqline.pipeline.dag import Node
from seqline.pipeline.errors import ConfigError

# Environment variable that sets the default when neither the caller nor the config does.
MAX_PARALLEL_ENV = "SEQLINE_MAX_PARALLEL"


def default_max_parallel() -> int:
    """`$SEQLINE_MAX_PARALLEL` if set, else min(2, cores): the standard pipelines have at most
    two independent nodes at a time (evaluate and infra_validate), and on one core a second
    thread only adds switching."""
    text = os.environ.get(MAX_PARALLEL_ENV, "").strip()
    if text:
        return check_max_parallel(_int(text), f"${MAX_PARALLEL_ENV}")
    return max(1, min(2, os.cpu_count() or 1))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"${MAX_PARALLEL_ENV}: expected a whole number of nodes (e.g. 2), got {text!r}"
        ) from None


def check_max_parallel(value: int, where: str = "max_parallel") -> int:
    """`value` if it is an int >= 1; ConfigError naming `where` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{where}: expected the number of nodes that may run at once, an integer >= 1 "
            f"(1 = one node at a time), got {value!r}"
        )
    return value


def _downstream_of_failure(node: Node, blocked: set[str]) -> str | None:
    return next((ref.node_id for ref in node.inputs.values() if ref.node_id in blocked), None)


def schedule(
    nodes: Sequence[Node],
    run_one: Callable[[Node], None],
    max_parallel: int,
    on_skipped: Callable[[Node, str], None] = lambda _node, _upstream: None,
) -> dict[str, BaseException]:
    """Runs `run_one(node)` for every node of `nodes` (topologically sorted) whose upstreams
    all succeeded, at most `max_parallel` at once; calls `on_skipped(node, failed_upstream)`
    for every node never started because an upstream failed or was skipped. Returns node id ->
    the exception it raised, in the order they failed (empty when every node succeeded).
    Raises KeyboardInterrupt / SystemExit at once if a node or the wait raises one."""
    check_max_parallel(max_parallel)
    finished: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()

    def work(node: Node) -> None:
        try:
            run_one(node)
        except BaseException as exc:  # reported to the scheduling thread, which decides
            finished.put((node.node_id, exc))
        else:
            finished.put((node.node_id, None))

    succeeded: set[str] = set()
    blocked: set[str] = set()  # failed or skipped: their downstream nodes never start
    failures: dict[str, BaseException] = {}
    pending = list(nodes)
    running = 0
    while pending or running:
        for node in list(pending):  # topological order: a skip propagates in one pass
            upstream = _downstream_of_failure(node, blocked)
            if upstream is not None:
                pending.remove(node)
                blocked.add(node.node_id)
                on_skipped(node, upstream)
        ready = [n for n in pending if all(r.node_id in succeeded for r in n.inputs.values())]
        for node in ready[: max_parallel - running]:
            pending.remove(node)
            running += 1
            if max_parallel == 1:
                work(node)  # in the caller's thread: Ctrl-C interrupts the node itself
            else:
                threading.Thread(
                    target=work, args=(node,), name=f"seqline:{node.node_id}", daemon=True
                ).start()
        if not running:
            break  # nothing runs and nothing is ready: the rest wait on blocked nodes
        node_id, error = finished.get()
        running -= 1
        if error is None:
            succeeded.add(node_id)
        elif not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit: stop scheduling now
        else:
            blocked.add(node_id)
            failures[node_id] = error
    return failures


def effective_max_parallel(requested: int, metadata_url: str) -> int:
    """`requested`, or 1 for an in-memory SQLite store: SQLAlchemy gives each thread its own
    in-memory database there, so nodes in other threads would not see the run's records."""
    memory = metadata_url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in metadata_url
    return 1 if memory else requested
