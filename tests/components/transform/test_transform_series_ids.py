"""The transform graph strips series ids exactly as ingest does (Python's str.strip()), so the
per-series lookup at serving time finds "B " as series "B"; case is kept."""

from __future__ import annotations

import sys


def test_strip_series_ids_matches_python_str_strip() -> None:
    import tensorflow as tf

    from seqline.components.transform.series_preprocessing import strip_series_ids

    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
    ids = [f"{c}B x{c}" for c in spaces] + [" \t b\n", "", "   ", "A", "\u200bA"]
    got = strip_series_ids(tf.constant([i.encode() for i in ids])).numpy()
    assert [g.decode() for g in got] == [i.strip() for i in ids]
