"""train.ema: validation and checkpoints see the averaged weights, the backup the training ones."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.components.train.config import TrainSeriesConfig, TrainTextConfig
from seqline.pipeline.errors import ConfigError


def _data(n: int = 64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None] + rng.normal(
        scale=0.1, size=(n, 1)
    ).astype("float32")
    return x, y


def _model(ema: float):
    import keras

    from seqline.components.train.weight_averaging import adam

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer=adam(keras, 0.05, ema), loss="mse")
    return model


def _values(variables) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


def test_epoch_end_callbacks_see_the_average_and_the_backup_the_training_weights():
    import keras

    from seqline.components.train.weight_averaging import averaging_callbacks

    x, y = _data()
    model = _model(0.9)
    seen: dict[str, list] = {"middle": [], "middle_average": [], "last": [], "last_average": []}

    class Probe(keras.callbacks.Callback):
        def __init__(self, where: str) -> None:
            super().__init__()
            self.where = where

        def on_epoch_end(self, epoch, logs=None):
            optimizer = self.model.optimizer
            seen[self.where].append(_values(self.model.trainable_variables))
            seen[self.where + "_average"].append(_values(optimizer._model_variables_moving_average))

    on_test, swap_in, swap_out = averaging_callbacks(keras)
    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[on_test, swap_in, Probe("middle"), swap_out, Probe("last")],
    )
    for epoch in range(3):
        middle, last = seen["middle"][epoch], seen["last"][epoch]
        # Between the swaps the model holds the average; after, the training weights again.
        for a, b in zip(middle, seen["last_average"][epoch], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        for a, b in zip(last, seen["middle_average"][epoch], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        assert not all(np.allclose(a, b) for a, b in zip(middle, last, strict=True))
        # val_loss is the average's loss (same data as training, so it can be recomputed).
        averaged = _model(0.0)
        for variable, value in zip(averaged.trainable_variables, middle, strict=True):
            variable.assign(value)
        expected = averaged.evaluate(x, y, batch_size=64, verbose=0)
        np.testing.assert_allclose(history.history["val_loss"][epoch], expected, rtol=1e-4)


def test_ema_config_is_validated_and_multi_worker_keras_is_refused():
    import tf_keras

    from seqline.components.train.weight_averaging import check_supported

    assert TrainTextConfig().ema == 0.0
    assert TrainSeriesConfig(ema=0.99).ema == 0.99
    for bad in (1.0, -0.5, 1.5, True, "0.9"):
        with pytest.raises(ConfigError, match="ema: expected 0.0 .off. or a momentum"):
            TrainSeriesConfig(ema=bad)
    check_supported(tf_keras, 0.0)
    with pytest.raises(ConfigError, match="train.ema: expected 0.0 with tf_keras"):
        check_supported(tf_keras, 0.99)


def test_a_run_killed_after_an_epoch_resumes_to_the_same_weights_and_average(tmp_path):
    """The backup holds the training weights and the optimizer's average unswapped, so a
    resumed run ends exactly where an uninterrupted one does; best.weights.h5 is an average."""
    import keras

    from seqline.components.train.callbacks import WorkPaths, make_callbacks
    from seqline.components.train.config import EarlyStoppingConfig

    x, y = _data()
    config = TrainSeriesConfig(ema=0.9, epochs=3, early_stopping=EarlyStoppingConfig(patience=9))

    class Killed(Exception):
        pass

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Killed

    def fit(root, kill: bool = False):
        model = _model(0.9)
        root.mkdir(exist_ok=True)
        paths = WorkPaths(str(root))
        callbacks, _ = make_callbacks(
            keras, config, paths, str(root / "history.csv"), None, lambda _line: None,
            write_summaries=False,
        )  # fmt: skip
        if kill:
            callbacks.append(KillAfterFirstEpoch())  # after BackupAndRestore wrote epoch 0
        model.fit(
            x, y, validation_data=(x, y), epochs=3, batch_size=16, shuffle=False, verbose=0,
            callbacks=callbacks,
        )  # fmt: skip
        return model, paths

    straight, _ = fit(tmp_path / "straight")
    with pytest.raises(Killed):
        fit(tmp_path / "resumed", kill=True)
    resumed, paths = fit(tmp_path / "resumed")
    for a, b in zip(
        _values(resumed.trainable_variables), _values(straight.trainable_variables), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    averages = (m.optimizer._model_variables_moving_average for m in (resumed, straight))
    for a, b in zip(*map(_values, averages), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The best checkpoint is the average validation scored best (its val_loss, recomputed).
    from seqline.components.train.history import read_history

    best = _model(0.0)
    best.load_weights(paths.best_weights)
    lowest = min(read_history(str(tmp_path / "resumed" / "history.csv"))["val_loss"])
    np.testing.assert_allclose(best.evaluate(x, y, batch_size=64, verbose=0), lowest, rtol=1e-4)
