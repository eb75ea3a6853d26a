"""Suite-wide collection order: files holding slow tests (whole pipelines, training; marked
`slow`) first, then the rest, each file's tests in their own order. pytest-xdist's loadfile
mode hands whole files to workers in collection order, so the many short files fill the end
of the run instead of one worker starting a minute-long pipeline test while the others sit
idle (scripts/test.sh)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    # A stable sort: the order inside each group, and inside each file, is kept.
    items.sort(key=lambda item: item.path not in slow_files)
