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
SEQLINE_GC_THRESHOLDS=keep leaves the process's thresholds as they are (e.g. an Airflow task
in a process shared with other work); three integers set others.
"""

from __future__ import annotations

import gc
import os

# (young, middle, old) collection thresholds; CPython's defaults are (700, 10, 10).
THRESHOLDS = (20_000, 20, 20)
THRESHOLDS_VARIABLE = "SEQLINE_GC_THRESHOLDS"


def chosen_thresholds() -> tuple[int, int, int] | None:
    """THRESHOLDS, or what $SEQLINE_GC_THRESHOLDS says: `keep` (None: change nothing) or three
    comma-separated non-negative integers. Raises ValueError naming the variable otherwise."""
    text = os.environ.get(THRESHOLDS_VARIABLE, "").strip()
    if not text:
        return THRESHOLDS
    if text == "keep":
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(
            f"{THRESHOLDS_VARIABLE}: expected 'keep' or three non-negative integers such as "
            f"'700,10,10' (CPython's defaults), got {text!r}; unset it for seqline's "
            f"{','.join(map(str, THRESHOLDS))}"
        )
    return int(parts[0]), int(parts[1]), int(parts[2])


def collect_less_often() -> None:
    """Sets the process's collection thresholds to chosen_thresholds() (THRESHOLDS unless
    $SEQLINE_GC_THRESHOLDS says otherwise; process-wide: called by the `seqline run` and
    `seqline serve` commands and Airflow's python-mode task, never by library functions a
    user's own process calls)."""
    thresholds = chosen_thresholds()
    if thresholds is not None:
        gc.set_threshold(*thresholds)


def freeze_long_lived_objects() -> None:
    """Collects once, then moves every object alive now to the permanent generation, which
    collections skip (gc.freeze). For a process that has imported what it will use and is
    about to run for a long time; objects alive now are never freed afterwards."""
    gc.collect()
    gc.freeze()
