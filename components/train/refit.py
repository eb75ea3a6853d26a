"""Refit (`train.refit`): after early stopping has chosen how long to train, train a fresh model
on the train split and the early-stopping split together for that long, and export it.

A pipeline holds out eval (early stopping, best weights) and test (evaluate's blessing), so the
first fit learns from ~80% of the labelled records. Once the best epoch is known, eval has
done its job: the refit model learns from train + eval (~90%) with the same seed, settings and
learning-rate schedule, for the same number of epochs (passes), while test stays unseen. This
is scikit-learn's `refit` after model selection, and what a trainer does by hand when a fixed
test set is scored by someone else.

What it costs and what it gives up:
    - a second training of best-epoch passes over ~1.125x the records;
    - the exported model has no held-out figure of its own before evaluate: the Model's
      best_metrics / val_* stay the first fit's (on eval, which the refit model trained on),
      and evaluate (test) is its first honest score;
    - a killed refit starts the refit over (the first fit is kept: fit.json); a refit that
      finished writes refit.weights.h5 and refit.json, and a rerun builds the model from them.

The learning-rate schedule is the first fit's: the rate each epoch trained at is recorded
(callbacks.py, learning_rates.json, resumed attempts included) and replayed, since the refit
has no validation data to react to; an epoch without a record (a first fit from before the
record existed) gets the rate ReduceLROnPlateau's decisions give when replayed from the
monitored values (plateau_schedule).

The two splits are drawn batch by batch in proportion to their sizes
(tf.data.Dataset.sample_from_datasets), each shuffled on its own, so every stretch of an
epoch holds both in that proportion whatever the files and the shuffle buffer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from seqline.components.train import data
from seqline.components.train.config import ReduceLRConfig, TrainingConfig
from seqline.components.train.history import higher_is_better
from seqline.pipeline.errors import DataError
from seqline.storage import filesystem

# Keras's ReduceLROnPlateau default: an improvement must beat the best by this much.
_PLATEAU_MIN_DELTA = 1e-4


def refit_epochs(monitored: Mapping[int, float], losses: Mapping[int, float], monitor: str) -> int:
    """How many epochs the refit trains: 1 + the epoch (0-based) the best checkpoint holds,
    the first epoch with the best finite `monitor` value whose loss was finite too (the
    checkpoint saves strict improvements only); every epoch run when none qualifies.

    Args:
        monitored: {epoch: monitored value} over the whole first fit (resumed attempts too).
        losses: {epoch: training loss}, same epochs.
    """
    usable = [
        (epoch, value)
        for epoch, value in sorted(monitored.items())
        if math.isfinite(value) and math.isfinite(losses.get(epoch, math.nan))
    ]
    if not usable:
        return max(1, len(losses))
    sign = -1.0 if higher_is_better(monitor) else 1.0
    best_epoch, _ = min(usable, key=lambda item: (sign * item[1], item[0]))
    return best_epoch + 1


def plateau_schedule(
    monitored: list[float], learning_rate: float, reduce_lr: ReduceLRConfig, monitor: str
) -> list[float]:
    """The learning rate of each epoch as Keras's ReduceLROnPlateau(monitor, patience, factor,
    min_lr, min_delta 1e-4, cooldown 0) set it in a fit whose monitored values were `monitored`
    (one per epoch, in order), starting from `learning_rate`: [lr of epoch 0, epoch 1, ...],
    as long as `monitored`. A NaN value is never an improvement."""
    up = higher_is_better(monitor)
    rates: list[float] = []
    rate, best, wait = float(learning_rate), None, 0
    for value in monitored:
        rates.append(rate)
        if best is None:
            improved = True
        elif up:
            improved = value - _PLATEAU_MIN_DELTA > best
        else:
            improved = value + _PLATEAU_MIN_DELTA < best
        if improved:
            best, wait = value, 0
            continue
        wait += 1
        if wait >= reduce_lr.patience:
            # Keras compares the float32 rate with min_lr and stops reducing at min_lr.
            if rate > reduce_lr.min_lr:
                rate = max(rate * reduce_lr.factor, reduce_lr.min_lr)
            wait = 0
    return rates


def first_fit_rates(
    recorded: Mapping[int, float],
    monitored: Mapping[int, float],
    epochs: int,
    config: TrainingConfig,
) -> list[float]:
    """The learning rate of each of the refit's `epochs`: the first fit's recorded rate for
    that epoch, else the replayed ReduceLROnPlateau schedule's."""
    replayed = plateau_schedule(
        [monitored.get(epoch, math.nan) for epoch in range(epochs)],
        config.learning_rate,
        config.reduce_lr,
        config.early_stopping.monitor,
    )
    return [float(recorded.get(epoch, replayed[epoch])) for epoch in range(epochs)]


@dataclass(frozen=True)
class RefitRecord:
    """What the refit did: recorded as the Model's `refit` property (Model.refit)."""

    split: str
    epochs: int
    examples: int
    learning_rates: tuple[float, ...]
    losses: tuple[float, ...]

    def properties(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "epochs": self.epochs,
            "examples": self.examples,
            "learning_rates": list(self.learning_rates),
            "losses": [v if math.isfinite(v) else None for v in self.losses],
        }


def refit_weights_path(root: str) -> str:
    return filesystem.join(root, "refit.weights.h5")


def refit_done_path(root: str) -> str:
    return filesystem.join(root, "refit.json")


def read_refit_done(root: str) -> RefitRecord | None:
    """The record of a refit a killed attempt finished (refit.json and its weights both
    exist), or None."""
    done, weights = refit_done_path(root), refit_weights_path(root)
    if not (filesystem.exists(done) and filesystem.exists(weights)):
        return None
    value = json.loads(filesystem.read_text(done))
    return RefitRecord(
        split=str(value["split"]),
        epochs=int(value["epochs"]),
        examples=int(value["examples"]),
        learning_rates=tuple(float(v) for v in value["learning_rates"]),
        losses=tuple(math.nan if v is None else float(v) for v in value["losses"]),
    )


def refit_dataset(
    task: Any,
    config: TrainingConfig,
    split_files: list[list[str]],
    counts: list[int],
    multi_worker: bool,
) -> Any:
    """The training input over several splits (their files, their record counts): each split
    shuffled and repeated on its own, batches drawn from them with probabilities proportional
    to `counts` (seeded), so train and eval records are spread over the whole epoch."""
    import tensorflow as tf  # noqa: PLC0415

    inputs = [
        task.dataset(
            files,
            config.batch_size,
            shuffle_buffer=config.shuffle_buffer,
            seed=config.seed + k,
            repeat=True,
            shard_by_data=multi_worker,
        )
        for k, files in enumerate(split_files)
    ]
    total = float(sum(counts))
    mixed = tf.data.Dataset.sample_from_datasets(
        inputs, weights=[n / total for n in counts], seed=config.seed
    )
    return data.without_autotune_thread(mixed)


def fit_refit(
    model: Any,
    km: Any,
    dataset: Any,
    steps_per_epoch: int,
    rates: list[float],
    class_weight: dict[int, float] | None,
    progress: Callable[[str], None],
) -> list[float]:
    """Fits `model` (compiled, fresh) for len(rates) epochs of `steps_per_epoch` on `dataset`,
    epoch e at rates[e]; returns the training loss of each epoch. Stops at the first
    non-finite batch loss (TerminateOnNaN); Keras 3 puts the weights' moving average into the
    model at the end of fit when the optimizer keeps one (train.ema)."""
    epochs = len(rates)
    losses: list[float] = []

    class RefitProgress(km.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            loss = float((logs or {}).get("loss", math.nan))
            losses.append(loss)
            progress(f"refit epoch {epoch + 1}/{epochs}: loss={loss:.4f}")

    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        class_weight=class_weight,
        callbacks=[
            km.callbacks.LearningRateScheduler(lambda epoch, _rate: rates[epoch]),
            RefitProgress(),
            km.callbacks.TerminateOnNaN(),
        ],
        shuffle=False,
        verbose=0,
    )
    return losses


def divergence(losses: list[float], epochs: int, learning_rate: float) -> DataError | None:
    """The DataError for a refit whose loss went non-finite (or that stopped early), else
    None: the refit has no earlier checkpoint to fall back on."""
    if len(losses) == epochs and all(math.isfinite(v) for v in losses):
        return None
    return DataError(
        f"refit diverged: expected {epochs} epoch(s) of finite training loss on train + eval, "
        f"got {[round(v, 4) for v in losses]}; lower learning_rate (got {learning_rate}), or "
        "set train.refit: false to export the first fit's best weights"
    )
