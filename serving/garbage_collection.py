"""Garbage-collector settings for TensorFlow-heavy processes: `seqline run` and an Airflow task
running a node, `seqline serve` (infra_validate's child too), and the test suite. Here in
serving/ because serving imports nothing from pipeline/ (as quiet_logs.py).

A node run imports TensorFlow, Keras, Beam and TensorFlow Transform, which leave millions of
long-lived objects, and then allocates in bursts (graph tracing, Beam pipeline construction):
with CPython's default young-generation threshold of 700 allocations the collector ran
thousands of times per run, and every full collection walked all of those objects again.
Raising the thresholds makes collections rarer; cyclic garbage is still collected, later. A
server's TensorFlow import and SavedModel load spent 0.47-0.52 s of 2.5 s in 672 collections,
0.19-0.24 s in 23 with these thresholds.
Nothing in seqline depends on when the collector runs: resources are closed explicitly.
"""

from __future__ import annotations

import gc

# (young, middle, old) collection thresholds; CPython's defaults are (700, 10, 10).
THRESHOLDS = (20_000, 20, 20)


def collect_less_often() -> None:
    """Sets the process's collection thresholds to THRESHOLDS (process-wide; called by the
    `seqline run` and `seqline serve` commands, never by library functions a user's own
    process calls)."""
    gc.set_threshold(*THRESHOLDS)


def freeze_long_lived_objects() -> None:
    """Collects once, then moves every object alive now to the permanent generation, which
    collections skip (gc.freeze). For a process that has imported what it will use and is
    about to run for a long time; objects alive now are never freed afterwards."""
    gc.collect()
    gc.freeze()
