"""Suite-wide settings for the test processes (each pytest-xdist worker runs these hooks).

Collection order: files holding slow tests (whole pipelines, training; marked `slow`) first,
then the rest, each file's tests in their own order. pytest-xdist's loadfile mode hands whole
files to workers in collection order, so the many short files fill the end of the run instead
of one worker starting a minute-long pipeline test while the others sit idle (scripts/test.sh).

Garbage collection: by the end of collection a worker has imported TensorFlow, Keras, Beam,
TensorFlow Transform and Airflow, millions of long-lived objects that every full collection
walked again: garbage collection took 15.5 s of an 85 s run of four pipeline, transform,
serving and training files (gc.callbacks), most of it in full collections. Those objects are
moved to the permanent generation (gc.freeze) and the collection thresholds are raised as
`seqline run` raises them (serving/garbage_collection.py), so the collector runs less often
over what tests allocate; cyclic garbage is still collected.
The same four files then took 70.7 s (GC 7.0 s). Nothing a test checks depends on when the
collector runs: code that must release a resource closes it explicitly.
"""

from __future__ import annotations

import pytest

from seqline.serving.garbage_collection import collect_less_often, freeze_long_lived_objects


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    # A stable sort: the order inside each group, and inside each file, is kept.
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_collection_finish(session: pytest.Session) -> None:
    freeze_long_lived_objects()
    collect_less_often()  # the thresholds `seqline run` uses
