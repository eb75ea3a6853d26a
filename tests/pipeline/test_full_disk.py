"""A full disk while a node fails: the failed-outputs folder holds no empty error.txt.tmp-PID,
the node's own error still comes first, and the message says the failure could not be kept
or recorded (runs/show say RUNNING until the next run marks it CRASHED)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from seqline.pipeline import execution
from seqline.pipeline.errors import ComponentFailed, MetadataError
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

DISK_FULL = "metadata store {url} failed: OperationalError: database or disk is full"


def _error_file_fills_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """filesystem.write_text as it fails on a full disk: its temporary created, then ENOSPC."""
    write_text = execution.filesystem.write_text

    def full(path: str, text: str) -> None:
        if not path.endswith(execution.ERROR_FILE):
            write_text(path, text)
            return
        Path(f"{path}.tmp-{os.getpid()}").write_text("")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(execution.filesystem, "write_text", full)


def _store_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording a failure raises the store's disk-full error (the store shares the disk)."""
    for method in ("finish_execution", "finish_run"):
        original = getattr(MetadataStore, method)

        def failing(self, key, status, *args, _original=original, **kwargs):
            if status == "FAILED":
                raise MetadataError(DISK_FULL.format(url=self.url))
            return _original(self, key, status, *args, **kwargs)

        monkeypatch.setattr(MetadataStore, method, failing)


def test_a_full_disk_leaves_no_error_temporary_and_says_nothing_was_kept(tmp_path, monkeypatch):
    root = tmp_path / "root"
    _error_file_fills_the_disk(monkeypatch)
    with pytest.raises(ComponentFailed) as err:
        run_pipeline(make_pipeline(root, fail=True))
    message = str(err.value)
    # The executor's error, not the error.txt write's, and no pointer to a folder of nothing.
    assert message.startswith("component 'sum_numbers' failed: RuntimeError: deliberate failure")
    assert "could not all be kept in" in message and "No space left on device" in message
    assert "are kept in" not in message
    (run,) = MetadataStore(default_metadata_url(str(root))).runs()
    kept = root / "_failed" / run["run_id"] / "sum_numbers"
    assert not [p.name for p in kept.iterdir() if ".tmp-" in p.name]
    assert (kept / "model" / "partial.txt").read_text() == "half"  # moved before the disk filled


def test_a_failure_the_full_store_cannot_record_says_so(tmp_path, monkeypatch):
    root = tmp_path / "root"
    _store_is_full(monkeypatch)
    with pytest.raises(ComponentFailed) as err:
        run_pipeline(make_pipeline(root, fail=True))
    message = str(err.value)
    assert message.startswith("component 'sum_numbers' failed: RuntimeError: deliberate failure")
    assert f"are kept in {root / '_failed'}" in message
    assert "and it could not be recorded: metadata store " in message
    assert "database or disk is full" in message
    assert "RUNNING until the next run marks it CRASHED" in message
    assert message.count("could not be recorded") == 1  # the run's record failed too: said once
    (run,) = MetadataStore(default_metadata_url(str(root))).runs()
    assert run["status"] == "RUNNING"  # what runs/show say, as the message warns
