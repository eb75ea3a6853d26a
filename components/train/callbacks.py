"""The training callbacks and the work directory they share across a killed and rerun training.

Everything a resumed run needs lives in a stable work directory keyed by the execution's
fingerprint, `{pipeline_root}/_work/{node_id}/{fingerprint}/` (the output directories are fresh
temporary directories on every attempt, so they cannot hold it):

    backup/             BackupAndRestore state (weights + optimizer + epoch), written
                        atomically (backup.py); an unreadable one restarts from epoch 1
    best.weights.h5     ModelCheckpoint(save_best_only) of the monitored metric
    history.csv         CSVLogger(append=True): rows of the killed attempt are kept
    tensorboard/        TensorBoard scalars (tensorboard_logs.py)
    learning_rates.json {epoch: the learning rate it trained at}, written by the chief at each
                        epoch end (after history.csv): what a refit replays (refit.py)
    fit.json            written (atomically, by the chief) as soon as fit returns with a best
                        checkpoint: fit is finished. Keras deletes backup/ at the end of fit, so
                        without it a kill after fit (keeping the weights, export, publish)
                        would train again from epoch 1; with it a rerun builds the model from
                        best.weights.h5 (training.read_fit_finished)

After training the component copies what it publishes into its outputs and deletes the work dir.

Order matters: CSVLogger and ModelCheckpoint run before BackupAndRestore at each epoch end, so a
kill between them leaves at worst a duplicated history row (history.read_history keeps the last
row per epoch) and never a backup that is ahead of the history or of the best checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqline.components.train.config import TrainingConfig
from seqline.components.train.tensorboard_logs import EpochScalarWriter
from seqline.components.train.weight_averaging import averaging_callbacks
from seqline.storage import filesystem


@dataclass(frozen=True)
class WorkPaths:
    """Files of one training execution's work directory (see module docstring)."""

    root: str

    @property
    def backup_dir(self) -> str:
        return filesystem.join(self.root, "backup")

    @property
    def best_weights(self) -> str:
        return filesystem.join(self.root, "best.weights.h5")

    @property
    def history_csv(self) -> str:
        return filesystem.join(self.root, "history.csv")

    @property
    def tensorboard_dir(self) -> str:
        return filesystem.join(self.root, "tensorboard")

    @property
    def fit_done(self) -> str:
        return filesystem.join(self.root, "fit.json")

    @property
    def learning_rates(self) -> str:
        return filesystem.join(self.root, "learning_rates.json")


def read_learning_rates(paths: WorkPaths) -> dict[int, float]:
    """{epoch: learning rate} recorded by earlier attempts ({} when none or unreadable: a
    refit then falls back to replaying ReduceLROnPlateau, refit.plateau_schedule)."""
    if not filesystem.exists(paths.learning_rates):
        return {}
    try:
        value = json.loads(filesystem.read_text(paths.learning_rates))
        return {int(epoch): float(rate) for epoch, rate in value.items()}
    except (ValueError, AttributeError, TypeError):
        return {}


# Inside an epoch, a progress line at most this often (seconds): a long epoch shows it is moving
# without a line per step.
STEP_PROGRESS_INTERVAL_S = 10.0


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepProgress:
    """Progress lines inside an epoch: steps done, steps/s and ETA, at most one per
    `interval_s` seconds (the first one `interval_s` after the epoch starts). Pure Python; the
    Keras callback in make_callbacks feeds it.

    Usage: `start_epoch(epoch)` then `step(done, total)` after each batch (total None when the
    epoch length is unknown, then no ETA); `step` returns the line to report, or None.
    """

    def __init__(
        self,
        epochs: int,
        interval_s: float = STEP_PROGRESS_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._epochs = epochs
        self._interval_s = interval_s
        self._clock = clock
        self._epoch = 0
        self._start = self._last = 0.0

    def start_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._start = self._last = self._clock()

    def step(self, done: int, total: int | None) -> str | None:
        now = self._clock()
        if now - self._last < self._interval_s:
            return None
        self._last = now
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 else math.inf
        where = f"step {done}/{total}" if total else f"step {done}"
        line = f"epoch {self._epoch + 1}/{self._epochs}: {where}, {rate:.1f} steps/s"
        if total and math.isfinite(rate) and rate > 0:
            line += f", ETA {_duration((total - done) / rate)}"
        return line


def work_dir(pipeline_root: str, node_id: str, fingerprint: str, fallback: str) -> str:
    """`{pipeline_root}/_work/{node_id}/{fingerprint}`, or `fallback` when there is no pipeline
    root (hand-built contexts in tests): then a killed run cannot resume."""
    if not pipeline_root or not fingerprint:
        return fallback
    return filesystem.join(pipeline_root, "_work", node_id or "train", fingerprint)


def make_callbacks(
    keras_module: Any,
    config: TrainingConfig,
    paths: WorkPaths,
    csv_path: str,
    initial_best: float | None,
    progress: Callable[[str], None],
    write_summaries: bool = True,
    step_progress: StepProgress | None = None,
) -> tuple[list[Any], Any]:
    """The callback list for Model.fit, and the EpochRecorder inside it.

    Args:
        keras_module: keras or tf_keras (the module the model was built with).
        config: supplies monitor, patience and LR-reduction settings.
        paths: the shared work directory (tf_keras routes non-chief writes to private temp
            dirs itself for ModelCheckpoint and BackupAndRestore).
        csv_path: where CSVLogger appends (a private path on non-chief workers).
        initial_best: best monitored value from a killed attempt (history.csv), so the resumed
            ModelCheckpoint only overwrites best.weights.h5 with something better.
        progress: called once per epoch with a one-line summary, and inside long epochs with
            "epoch e/E: step s/S, r steps/s, ETA m:ss" at most every STEP_PROGRESS_INTERVAL_S.
        write_summaries: write TensorBoard logs (False on non-chief workers).
        step_progress: the in-epoch progress pacing (default StepProgress(config.epochs)).
    """
    km = keras_module
    monitor = config.early_stopping.monitor
    steps = step_progress or StepProgress(config.epochs)

    Callback: Any = km.callbacks.Callback  # the Keras that trains (keras or tf_keras)

    class EpochRecorder(Callback):
        """Records the epochs this process ran (the first is where a resumed run restarted),
        their logs ({epoch: {"loss": ..., "val_loss": ...}}, the figures every worker of a
        multi-worker run sees alike) and learning rates ({epoch: rate}, what the optimizer
        held as the epoch began; the chief also writes them to paths.learning_rates, with
        those of earlier attempts, for a refit to replay), and reports progress."""

        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[int] = []
            self.logs: dict[int, dict[str, float]] = {}
            self.learning_rates: dict[int, float] = {}
            # Read before fit, by every worker alike (as history.csv is).
            self.prior_learning_rates = read_learning_rates(paths)

        def all_learning_rates(self) -> dict[int, float]:
            """Every recorded epoch's rate: earlier attempts', then this process's."""
            return {**self.prior_learning_rates, **self.learning_rates}

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epochs.append(epoch)
            self.learning_rates[epoch] = float(self.model.optimizer.learning_rate.numpy())
            steps.start_epoch(epoch)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            line = steps.step(batch + 1, (self.params or {}).get("steps"))
            if line is not None:
                progress(line)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.logs[epoch] = {k: float(v) for k, v in (logs or {}).items()}
            if write_summaries:  # the chief
                filesystem.write_text(paths.learning_rates, json.dumps(self.all_learning_rates()))
            shown = ", ".join(f"{k}={float(v):.4f}" for k, v in sorted((logs or {}).items()))
            progress(f"epoch {epoch + 1}/{config.epochs}: {shown}")

    class EpochSummaries(Callback):
        """TensorBoard scalars per epoch (tensorboard_logs.py: keras.callbacks.TensorBoard
        needs the tensorboard package). Only the chief writes."""

        def __init__(self) -> None:
            super().__init__()
            self._writer = EpochScalarWriter(paths.tensorboard_dir) if write_summaries else None
            self._lr: float | None = None

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            # The rate this epoch trains with (ReduceLROnPlateau changes it at epoch end).
            self._lr = float(self.model.optimizer.learning_rate.numpy())

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if self._writer is not None:
                values = {k: v for k, v in (logs or {}).items() if k not in ("lr",)}
                values["learning_rate"] = self._lr
                self._writer.write(epoch, values)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            if self._writer is not None:
                self._writer.close()

    ModelCheckpoint: Any = km.callbacks.ModelCheckpoint

    class FiniteCheckpoint(ModelCheckpoint):
        """ModelCheckpoint(save_best_only) that never saves an epoch whose loss or monitored
        value is NaN/inf: Keras counts the first epoch as an improvement whatever its value, so
        a model that diverged in epoch 1 was kept as the best and exported."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            values = [(logs or {}).get(name) for name in ("loss", monitor)]
            if any(v is not None and not math.isfinite(float(v)) for v in values):
                return
            super().on_epoch_end(epoch, logs)

    recorder = EpochRecorder()
    summaries = EpochSummaries()
    checkpoint_kwargs: dict[str, Any] = {}
    if initial_best is not None:
        checkpoint_kwargs["initial_value_threshold"] = initial_best
    if km.__name__ == "keras":
        # Keras 3 writes its backup in place: a full disk or a kill mid-write left a truncated
        # h5 that failed every later run. This one writes atomically and starts over, with a
        # warning, from a backup it cannot read (backup.py).
        from seqline.components.train.backup import AtomicBackupAndRestore

        backup_callback = AtomicBackupAndRestore(paths.backup_dir)
    else:  # tf_keras (multi_worker): TF checkpoints, new files per save
        backup_callback = km.callbacks.BackupAndRestore(paths.backup_dir)
    callbacks = [
        recorder,
        km.callbacks.CSVLogger(csv_path, append=True),
        summaries,
        km.callbacks.EarlyStopping(
            monitor=monitor,
            patience=config.early_stopping.patience,
            min_delta=config.early_stopping.min_delta,
            restore_best_weights=True,
        ),
        km.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            patience=config.reduce_lr.patience,
            factor=config.reduce_lr.factor,
            min_lr=config.reduce_lr.min_lr,
        ),
        FiniteCheckpoint(
            paths.best_weights,
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
            **checkpoint_kwargs,
        ),
        backup_callback,
        # Stop at the first non-finite batch loss instead of training on NaN weights.
        km.callbacks.TerminateOnNaN(),
    ]
    if config.ema:
        # Validation, the epoch-end judges and best.weights.h5 see the averaged weights; the
        # backup sees the training weights (weight_averaging.py).
        on_test, swap_in, swap_out = averaging_callbacks(km)
        backup = next(
            i for i, c in enumerate(callbacks) if isinstance(c, km.callbacks.BackupAndRestore)
        )
        callbacks = [on_test, swap_in, *callbacks[:backup], swap_out, *callbacks[backup:]]
    return callbacks, recorder
