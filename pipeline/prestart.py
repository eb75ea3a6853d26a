"""Warming up a node while its last upstream finishes (Component.prestart).

A node whose remaining work is light calls ExecutionContext.finishing() (train does before it
exports). The runner then calls `prestart(config)` of every downstream node that has one and
whose other upstreams are done, and hands the result to that node's execution as
ExecutionContext.prestarted. infra_validate uses it to start its model server child, whose
~2 s of interpreter and TensorFlow import then runs on the core the exporting train leaves
idle instead of at the start of the run's tail.

A warm-up is an optimisation only: it never sees the upstream's outputs, a failing prestart
is logged and the node runs cold, a handle nobody claims (the node was cached, skipped or the
run failed) is closed, and the runner closes a claimed one after the node's execution too
(closing twice is harmless), so a node that fails before using it leaks nothing. With one
node at a time (--max-parallel 1) there are no warm-ups. SEQLINE_PRESTART=0 turns them off
(e.g. where the ~0.5 GB a server child holds a little earlier matters more than the ~2 s).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from seqline.pipeline.dag import Node

log = logging.getLogger(__name__)


def no_warmups() -> Warmups:
    """A Warmups that does nothing (a node run alone: orchestrated runs, node_run.py)."""
    return Warmups([], done=lambda _node_id: False, enabled=False)


class Warmups:
    """The prestarted handles of one run, by node id. Thread-safe: nodes finish and start
    from their own threads.

    Args:
        nodes: the pipeline's nodes.
        done: node id -> True once that node has published its outputs in this run.
        enabled: False makes every call a no-op (the runner passes max_parallel > 1).
    """

    def __init__(
        self, nodes: list[Node], done: Callable[[str], bool], enabled: bool = True
    ) -> None:
        self._downstream: dict[str, list[Node]] = {n.node_id: [] for n in nodes}
        for node in nodes:
            for upstream in {ref.node_id for ref in node.inputs.values()}:
                self._downstream[upstream].append(node)
        self._done = done
        self._lock = threading.Lock()
        self._handles: dict[str, Any] = {}
        self._offered: set[str] = set()
        # Off with one node at a time: the spare would wait through the nodes run before its
        # own (evaluate), holding its memory, with no idle core to start on.
        self._closed = not enabled

    def finishing(self, node: Node) -> None:
        """`node` said its remaining work is light: prestart the downstream nodes it is the
        last unfinished upstream of (each at most once per run)."""
        if os.environ.get("SEQLINE_PRESTART", "1").strip() == "0":
            return
        for down in self._downstream.get(node.node_id, []):
            prestart = down.component.prestart
            others = {ref.node_id for ref in down.inputs.values()} - {node.node_id}
            if prestart is None or not all(self._done(other) for other in others):
                continue
            with self._lock:
                if self._closed or down.node_id in self._offered:
                    continue
                self._offered.add(down.node_id)
            try:
                handle = prestart(down.config)
            except Exception as exc:  # a warm-up is never worth failing the run for
                log.warning("%s: prestart failed, it will start cold: %s", down.node_id, exc)
                continue
            log.info("%s: prestarted while %s finishes", down.node_id, node.node_id)
            with self._lock:
                late = self._closed  # the run ended (or was interrupted) meanwhile
                if not late:
                    self._handles[down.node_id] = handle
            if late:
                close_handle(down.node_id, handle)

    def claim(self, node_id: str) -> Any:
        """The handle prestarted for `node_id` (now the caller's to close), or None."""
        with self._lock:
            return self._handles.pop(node_id, None)

    def discard(self, node_id: str) -> None:
        """Closes `node_id`'s handle if nobody claimed it (a cache hit, a skipped node)."""
        close_handle(node_id, self.claim(node_id))

    def close_all(self) -> None:
        """Closes every unclaimed handle and refuses new warm-ups (end of the run; a prestart
        still running in a node's thread closes its handle when it returns)."""
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, {}
        for node_id, handle in handles.items():
            close_handle(node_id, handle)


def close_handle(node_id: str, handle: Any) -> None:
    """Closes a prestart handle (None: nothing), logging instead of raising."""
    if handle is None:
        return
    try:
        handle.close()
    except Exception as exc:  # closing a spare must not hide the run's own outcome
        log.warning("%s: closing its unused prestart failed: %s", node_id, exc)
