"""The statistics report's figures have one file each: features whose names differ only in
characters a file name cannot hold ("a b", "a.b", "a/b") shared one PNG, so one histogram
silently replaced the other and both <img> tags showed it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.components.statistics.helpers import direct_statistics


def test_features_with_the_same_slug_get_their_own_histograms(tmp_path: Path) -> None:
    from seqline.components.statistics.report import write_report

    names = ["a b", "a.b", "a/b"]
    rows = [{name: float(i * (k + 1)) for k, name in enumerate(names)} for i in range(5)]
    page = Path(write_report(direct_statistics({"train": rows}), str(tmp_path))).read_text(
        encoding="utf-8"
    )
    images = re.findall(r"<img src='([^']+)' alt='([^']+) values'>", page)
    assert sorted(alt for _, alt in images) == sorted(names)
    files = {src for src, _ in images}
    assert len(files) == 3  # one file per feature
    assert all((tmp_path / src).stat().st_size > 0 for src in files)
    assert all(re.fullmatch(r"[\w-]+\.png", src) for src in files)
