"""Keras 3's BackupAndRestore, made safe against a full disk and a kill in the middle of a write.

The stock callback writes `backup/latest.weights.h5` and `backup/training_metadata.json` in
place: a full disk (or a kill) during the write left a 0-byte or truncated h5 file, and every
later run failed in `model.fit` with `OSError: Unable to synchronously open file (file
signature not found)` until the backup was deleted by hand. AtomicBackupAndRestore:

  - writes each epoch's state to temporaries in the backup folder (`latest.tmp-{pid}.weights.h5`,
    `training_metadata.json.tmp-{pid}`), then renames them over the previous files (weights
    first, then the epoch counter: a kill between the two renames redoes one epoch from the
    newer weights, never skips one). A failed write removes its temporaries and leaves the
    previous backup whole; so does a kill, whose temporaries the next run sweeps.
  - treats a backup it cannot read as absent: one WARNING naming the file, the model's weights
    put back as they were before the attempt, and training starts from epoch 1 (the `.bkp`
    copies that earlier seqline versions kept, Keras's `double_checkpoint`, are not read).

multi_worker training uses tf_keras, whose BackupAndRestore writes TF checkpoints (new files
per save, then an atomically replaced index), so it keeps the stock callback.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import keras

from seqline.storage import filesystem

logger = logging.getLogger(__name__)

_TMP_MARK = ".tmp-"


def _remove_quietly(path: str) -> None:
    try:
        if filesystem.is_remote(path):
            import tensorflow as tf

            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        elif os.path.exists(filesystem.local_path(path)):
            os.remove(filesystem.local_path(path))
    except Exception:  # best effort: a leftover temporary is swept by the next run
        pass


def _fsync(path: str) -> None:
    """Flushes a local file to disk before it is renamed into place (no-op when remote)."""
    if filesystem.is_remote(path):
        return
    fd = os.open(filesystem.local_path(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore(backup_dir)` (save at each epoch end, deleted when fit
    ends) with atomic writes and an unreadable backup treated as absent (module docstring)."""

    def __init__(self, backup_dir: str) -> None:
        super().__init__(backup_dir)

    def _temporaries(self) -> tuple[str, str]:
        tag = f"{_TMP_MARK}{os.getpid()}"
        weights = filesystem.join(self.backup_dir, f"latest{tag}.weights.h5")
        return weights, f"{self._training_metadata_path}{tag}"

    def _save_model(self) -> None:
        filesystem.makedirs(self.backup_dir)
        weights_tmp, metadata_tmp = self._temporaries()
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        try:
            self.model.save_weights(weights_tmp, overwrite=True)
            _fsync(weights_tmp)
            filesystem.write_text(metadata_tmp, json.dumps(metadata))
            filesystem.replace_file(weights_tmp, self._weights_path)
            filesystem.replace_file(metadata_tmp, self._training_metadata_path)
        except BaseException:
            _remove_quietly(weights_tmp)
            _remove_quietly(metadata_tmp)
            raise

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not filesystem.exists(self.backup_dir):
            return
        for name in filesystem.listdir(self.backup_dir):
            if _TMP_MARK in name:  # a write killed midway (never a complete backup)
                _remove_quietly(filesystem.join(self.backup_dir, name))
        weights_path, metadata_path = self._weights_path, self._training_metadata_path
        if not (filesystem.exists(weights_path) or filesystem.exists(metadata_path)):
            return
        if not self.model.built:
            super()._load_model()  # raises Keras's "model must be built before fit()" error
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = list(self.model.weights) + (list(optimizer.variables) if optimizer else [])
        before = [v.numpy() for v in variables]
        initial_epoch = self.model._initial_epoch
        try:
            self._restore(weights_path, metadata_path)
        except Exception as error:  # any unreadable backup means "start over", never a crash
            for variable, value in zip(variables, before, strict=True):
                variable.assign(value)
            self.model._initial_epoch = initial_epoch
            logger.warning(
                "the training backup %s (or %s) could not be read: %s: %s. Expected a "
                "complete backup; a full disk or a kill while an earlier seqline wrote it "
                "leaves it truncated. Training restarts from epoch 1 and replaces it "
                "(history.csv and the best checkpoint so far are kept); nothing to do",
                weights_path,
                metadata_path,
                type(error).__name__,
                error,
            )

    def _restore(self, weights_path: str, metadata_path: str) -> None:
        """Loads one backup pair: the epoch counter first (cheap, fails before any weight is
        touched), then the weights."""
        epoch = None
        if filesystem.exists(metadata_path):
            epoch = int(json.loads(filesystem.read_text(metadata_path))["epoch"])
        if filesystem.exists(weights_path):
            self.model.load_weights(weights_path)
        if epoch is not None:
            self.model._initial_epoch = epoch
