"""components/train/backup.py: the training backup is written atomically, and one that cannot be
read (a full disk or a kill mid-write left it truncated) restarts training with a warning
instead of failing every later run."""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.components.train.callbacks import WorkPaths, make_callbacks
from seqline.components.train.config import TrainTextConfig

EPOCHS = 3
X = np.linspace(0.0, 1.0, 48, dtype="float32").reshape(16, 3)
Y = X.sum(axis=1, keepdims=True)


def _model() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


class _StopAt(Exception):
    """Raised by an interrupting callback, as a kill would end fit."""


def _fit(model: Any, work: Path, stop_before_epoch: int | None = None) -> tuple[list[int], Any]:
    """Fits with the component's callbacks; returns the epochs run and the backup callback."""
    import keras

    work.mkdir(parents=True, exist_ok=True)
    callbacks, recorder = make_callbacks(
        keras, TrainTextConfig(epochs=EPOCHS), WorkPaths(str(work)), str(work / "history.csv"),
        None, lambda line: None, write_summaries=False,
    )  # fmt: skip
    backup = next(c for c in callbacks if isinstance(c, keras.callbacks.BackupAndRestore))

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch == stop_before_epoch:
                raise _StopAt(epoch)

    if stop_before_epoch is not None:
        callbacks.append(Interrupt())
    model.fit(X, Y, batch_size=4, epochs=EPOCHS, validation_data=(X, Y), callbacks=callbacks,
              verbose=0)  # fmt: skip
    return recorder.epochs, backup


def _interrupted(work: Path, before_epoch: int) -> Any:
    """A fit killed before `before_epoch`: its backup holds epoch `before_epoch`'s start."""
    model = _model()
    with pytest.raises(_StopAt):
        _fit(model, work, stop_before_epoch=before_epoch)
    return model


def test_an_interrupted_fit_resumes_at_the_next_epoch(tmp_path: Path) -> None:
    work = tmp_path / "work"
    _interrupted(work, before_epoch=2)
    epochs, _ = _fit(_model(), work)
    assert epochs == [2]
    assert not (work / "backup").exists()  # deleted when fit finished


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_unreadable_backup_restarts_from_epoch_1_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    import keras

    work = tmp_path / "work"
    _interrupted(work, before_epoch=1)  # the first backup (the probe's case: no older copy)
    weights = work / "backup" / "latest.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])

    model = _model()
    fresh = [w.copy() for w in model.get_weights()]
    at_start: list[list[Any]] = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if not at_start:
                at_start.append([w.copy() for w in self.model.get_weights()])

    original_fit = model.fit

    def fit_with_snapshot(*args: Any, **kwargs: Any) -> Any:
        kwargs["callbacks"] = [*kwargs["callbacks"], Snapshot()]
        return original_fit(*args, **kwargs)

    model.fit = fit_with_snapshot
    with caplog.at_level(logging.WARNING, logger="seqline.components.train.backup"):
        epochs, _ = _fit(model, work)
    assert epochs == list(range(EPOCHS))  # from epoch 1, not 2, and no crash
    # Whatever a partial load assigned was put back: epoch 1 starts from the fresh weights.
    for got, want in zip(at_start[0], fresh, strict=True):
        np.testing.assert_array_equal(got, want)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(weights) in warnings[0]
    assert "restarts from epoch 1" in warnings[0]


def test_a_failed_write_leaves_the_previous_backup_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    model = _interrupted(work, before_epoch=1)
    backup_dir = work / "backup"
    before = {p.name: p.read_bytes() for p in backup_dir.iterdir()}
    assert json.loads(before["training_metadata.json"])["epoch"] == 1

    backup = _backup_callback(model, work)

    def full_disk(filepath: str, overwrite: bool = True) -> None:
        Path(filepath).write_bytes(b"\x89HDF")  # a few bytes, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(model, "save_weights", full_disk)
    backup._current_epoch = 2
    with pytest.raises(OSError, match="No space left"):
        backup.on_epoch_end(1)
    after = {p.name: p.read_bytes() for p in backup_dir.iterdir()}
    assert after == before  # same files (no temporaries left), same bytes
    monkeypatch.undo()

    epochs, _ = _fit(_model(), work)
    assert epochs == [1, 2]  # the previous backup still resumes


def _backup_callback(model: Any, work: Path) -> Any:
    """The backup callback of the component's list, attached to `model` without fitting."""
    import keras

    callbacks, _ = make_callbacks(
        keras, TrainTextConfig(epochs=EPOCHS), WorkPaths(str(work)), str(work / "history.csv"),
        None, lambda line: None, write_summaries=False,
    )  # fmt: skip
    backup = next(c for c in callbacks if isinstance(c, keras.callbacks.BackupAndRestore))
    backup.set_model(model)
    return backup
