"""Polyak averaging: validate, checkpoint and export an exponential moving average of the
weights instead of the last step's weights (`train.ema`).

Adam's weights at the end of an epoch are one noisy point of the trajectory: which epoch early
stopping keeps, and how good it is on data no one tuned on, then depends on the seed (the data
order and initialisation) more than on the method. The average over the last ~1 / (1 - ema)
steps sits in the middle of that noise. Keras 3's optimizers keep the average themselves
(`use_ema`, `ema_momentum`); the callbacks here put it into the model whenever the model is
judged or saved:

    validation          keras.callbacks.SwapEMAWeights: swapped in at on_test_begin, out at
                        on_test_end, so val_loss and val metrics are the average's
    on_epoch_end        SwapIn first: EarlyStopping, ReduceLROnPlateau and ModelCheckpoint
                        (best.weights.h5) see the average; SwapOut just before
                        BackupAndRestore, so the backup holds the training weights and the
                        optimizer's average as they are, and a killed run resumes exactly

The swap exchanges the two sets of values in place (a + b, a - b, a - b), so it is its own
inverse and allocates nothing. The training loss ("loss", averaged over the epoch's steps)
stays the training weights'. Training ends by loading best.weights.h5, an averaged
checkpoint, as it does without ema.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from seqline.pipeline.errors import ConfigError


def adam(km: ModuleType, learning_rate: float, ema: float = 0.0) -> Any:
    """Adam(learning_rate), keeping a moving average of the weights with momentum `ema` when
    ema > 0 (default 0.0: none)."""
    if not ema:
        return km.optimizers.Adam(learning_rate=learning_rate)
    return km.optimizers.Adam(learning_rate=learning_rate, use_ema=True, ema_momentum=ema)


def check_supported(km: ModuleType, ema: float) -> None:
    """ConfigError when `ema` is asked of a Keras without SwapEMAWeights (tf_keras, used for
    multi-worker training)."""
    if ema and not hasattr(km.callbacks, "SwapEMAWeights"):
        raise ConfigError(
            f"train.ema: expected 0.0 with {km.__name__} (multi-worker training), got {ema}; "
            "weight averaging needs Keras 3's SwapEMAWeights: set ema: 0.0 or train on one "
            "machine (default / mirrored strategy)"
        )


def validation_callbacks(km: ModuleType, ema: float) -> list[Any]:
    """What a fit needs so its validation scores the averaged weights (tune's trials): the
    swap around validation, or nothing when ema is 0."""
    return [km.callbacks.SwapEMAWeights(swap_on_epoch=False)] if ema else []


def averaging_callbacks(km: ModuleType) -> tuple[Any, Any, Any]:
    """(for validation, first at epoch end, last before the backup at epoch end); see the
    module docstring for where each goes in the callback list."""
    swap_on_test = km.callbacks.SwapEMAWeights(swap_on_epoch=False)

    class EpochEndSwap(km.callbacks.SwapEMAWeights):  # type: ignore[name-defined]
        """Exchanges the weights and their average at on_epoch_end only."""

        def __init__(self, name: str) -> None:
            super().__init__(swap_on_epoch=False)
            self.name = name

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self._swap_variables()

        def on_test_begin(self, logs: dict | None = None) -> None:
            pass

        def on_test_end(self, logs: dict | None = None) -> None:
            pass

        def on_predict_begin(self, logs: dict | None = None) -> None:
            pass

        def on_predict_end(self, logs: dict | None = None) -> None:
            pass

    return swap_on_test, EpochEndSwap("swap_in"), EpochEndSwap("swap_out")
