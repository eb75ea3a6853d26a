"""`seqline lineage --serving-root`: every spelling of a local serving root (relative, with a
trailing '/', as a file:// URL) names the root push recorded its destinations under."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.pipeline.report import _destination_matches, _version_dirs


@pytest.mark.parametrize("spelling", ["file://{root}", "file://{root}/", "{root}", "serving"])
def test_a_local_serving_root_matches_the_recorded_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.chdir(tmp_path)
    root = str(tmp_path / "serving")
    recorded = f"{root}/reviews/3"  # push records local destinations as absolute paths
    serving_root = spelling.format(root=root)
    assert _destination_matches(recorded, "reviews", 3, serving_root)
    assert not _destination_matches(recorded, "reviews", 2, serving_root)
    assert _version_dirs([], "reviews", 3, serving_root) == [recorded]


def test_a_remote_serving_root_is_compared_as_written() -> None:
    assert _destination_matches("gs://b/serving/reviews/3", "reviews", 3, "gs://b/serving/")
    assert _version_dirs([], "reviews", 3, "gs://b/serving") == ["gs://b/serving/reviews/3"]
