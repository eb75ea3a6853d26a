"""`seqline runs | head`: a reader that stops early ends the command quietly (status 141, as a
shell reports a process SIGPIPE ended), not with a BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

REPO = Path(__file__).resolve().parents[2]


def test_a_listing_whose_reader_went_away_ends_quietly(tmp_path):
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from seqline.pipeline.cli import entry; entry()"]
            + ["runs", "--root", str(root)],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""
