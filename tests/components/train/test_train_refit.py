"""Refit (`train.refit`, components/train/refit.py): after early stopping chose the best epoch
on eval, a fresh model trains on train + eval for that many epochs and is the one exported."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.components.train.config import (
    EarlyStoppingConfig,
    EnsembleConfig,
    ModelConfig,
    ReduceLRConfig,
    TrainTextConfig,
    from_json,
)
from seqline.components.train.refit import plateau_schedule, refit_epochs
from seqline.pipeline.errors import ConfigError

from .conftest import Killed, TextArtifacts, train_context

CONFIG = TrainTextConfig(
    model=ModelConfig(units=8, embedding_dim=8),
    epochs=4,
    batch_size=16,
    learning_rate=0.01,
    early_stopping=EarlyStoppingConfig(patience=10),
    refit=True,
)


def test_refit_is_off_by_default_a_boolean_and_refused_with_an_ensemble() -> None:
    assert TrainTextConfig().refit is False
    with pytest.raises(ConfigError, match=r"refit: expected true or false, got 'yes'"):
        TrainTextConfig(refit="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"refit: expected false with ensemble.members > 1"):
        TrainTextConfig(refit=True, ensemble=EnsembleConfig(members=2))
    with pytest.raises(ConfigError, match=r"train\.refit: expected"):
        from_json(json.dumps({"refit": 1}), TrainTextConfig)


def test_refit_epochs_count_up_to_the_best_checkpoints_epoch() -> None:
    losses = {0: 0.9, 1: 0.7, 2: 0.6, 3: 0.5}
    # val_loss: the lowest; the first of equal values (the checkpoint saves strict gains).
    assert refit_epochs({0: 0.8, 1: 0.6, 2: 0.6, 3: 0.7}, losses, "val_loss") == 2
    # val_accuracy: the highest.
    assert refit_epochs({0: 0.6, 1: 0.7, 2: 0.9, 3: 0.8}, losses, "val_accuracy") == 3
    # An epoch whose monitored value or loss is not finite is never the checkpoint's.
    assert (
        refit_epochs({0: 0.8, 1: math.nan, 2: 0.1}, {0: 0.9, 1: 0.5, 2: math.inf}, "val_loss") == 1
    )
    # Nothing usable: every epoch run.
    assert refit_epochs({0: math.nan, 1: math.nan}, {0: 0.9, 1: 0.8}, "val_loss") == 2


def _keras_plateau_rates(
    values: list[float], lr: float, reduce_lr: ReduceLRConfig, monitor: str
) -> list[float]:
    """The rate of each epoch when Keras's own ReduceLROnPlateau sees `values`."""
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor=monitor,
        patience=reduce_lr.patience,
        factor=reduce_lr.factor,
        min_lr=reduce_lr.min_lr,
        # Keras tells accuracy's direction from a built metric, which this stand-in lacks.
        mode="max" if "accuracy" in monitor else "min",
    )
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        rates.append(float(model.optimizer.learning_rate.numpy()))
        callback.on_epoch_end(epoch, {monitor: value})
    return rates


@pytest.mark.parametrize(
    ("values", "monitor"),
    [
        ([0.9, 0.8, 0.85, 0.86, 0.79, 0.79, 0.80, 0.81, 0.82, 0.6], "val_loss"),
        ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], "val_loss"),
        ([0.6, 0.7, 0.7, 0.70005, 0.8, 0.79, 0.78, 0.77], "val_accuracy"),
        ([0.9, math.nan, math.nan, 0.5], "val_loss"),
    ],
)
def test_the_refit_replays_the_learning_rates_reduce_lr_on_plateau_set(
    values: list[float], monitor: str
) -> None:
    reduce_lr = ReduceLRConfig(patience=2, factor=0.5, min_lr=0.002)
    expected = _keras_plateau_rates(values, 0.01, reduce_lr, monitor)
    np.testing.assert_allclose(
        plateau_schedule(values, 0.01, reduce_lr, monitor), expected, rtol=1e-6
    )
    assert len(set(expected)) > 1 or values[0] == values[-1]  # the cases do reduce


@dataclasses.dataclass
class Refitted:
    lines: list[str]
    summary: dict[str, Any]
    model: Any
    model_run: Any


@pytest.fixture(scope="module")
def refitted(text_artifacts: TextArtifacts, tmp_path_factory: pytest.TempPathFactory) -> Refitted:
    """A refit training killed in its second refit epoch, then run again to the end."""
    from seqline.components.train.text_component import COMPONENT

    root = tmp_path_factory.mktemp("refit")
    first: list[str] = []

    def kill_in_refit(line: str) -> None:
        first.append(line)
        if line.startswith("refit epoch 2/"):
            raise Killed(line)

    ctx = dataclasses.replace(train_context(CONFIG, text_artifacts, root), progress=kill_in_refit)
    with pytest.raises(Killed):
        COMPONENT.executor(ctx)
    assert any(line.startswith("epoch 4/4") for line in first)  # the first fit had finished
    second: list[str] = []
    ctx = dataclasses.replace(train_context(CONFIG, text_artifacts, root), progress=second.append)
    summary = COMPONENT.executor(ctx)
    assert not (root / "_work" / "train" / "trainfp").exists()  # published
    return Refitted(second, summary, ctx.outputs["model"], ctx.outputs["model_run"])


@pytest.mark.slow
def test_the_exported_model_is_a_fresh_fit_on_train_and_eval_for_the_best_epochs(
    refitted: Refitted, text_artifacts: TextArtifacts
) -> None:
    import keras

    props = refitted.model.properties
    epochs = props["best_epoch"] + 1
    counts = text_artifacts.transformed_examples.properties.get("counts") or {
        "train": 64,
        "eval": 24,
    }
    assert props["refit"]["split"] == "eval"
    assert props["refit"]["epochs"] == epochs
    assert props["refit"]["examples"] == counts["train"] + counts["eval"] == 88
    assert len(props["refit"]["losses"]) == epochs
    assert all(math.isfinite(v) for v in props["refit"]["losses"])
    assert refitted.model.refit is not None and refitted.model.fitted_splits() == ["train", "eval"]
    assert refitted.summary["refit"] == f"{epochs} epoch(s) on train+eval"
    # The rerun kept the first fit (fit.json) and refit from the start.
    assert not any(line.startswith("epoch ") for line in refitted.lines)
    refit_lines = [line for line in refitted.lines if line.startswith("refit epoch ")]
    assert [line.split(":")[0] for line in refit_lines] == [
        f"refit epoch {e}/{epochs}" for e in range(1, epochs + 1)
    ]
    assert any("'train' + 'eval' (88 examples)" in line for line in refitted.lines)
    # The exported weights are the refit's, not the first fit's best checkpoint.
    exported = keras.saving.load_model(refitted.model.keras_file)
    first_fit = keras.saving.load_model(refitted.model.keras_file)
    first_fit.load_weights(str(Path(refitted.model_run.uri) / "checkpoints" / "best.weights.h5"))
    differ = [
        not np.allclose(a, b)
        for a, b in zip(exported.get_weights(), first_fit.get_weights(), strict=True)
    ]
    assert any(differ)
    # ModelRun keeps both: the first fit's best checkpoint and the refit's weights, which are
    # the exported ones.
    refit_weights = keras.saving.load_model(refitted.model.keras_file)
    refit_weights.load_weights(
        str(Path(refitted.model_run.uri) / "checkpoints" / "refit.weights.h5")
    )
    for a, b in zip(exported.get_weights(), refit_weights.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_first_fits_recorded_rates_win_and_missing_epochs_are_replayed() -> None:
    from seqline.components.train.refit import first_fit_rates

    config = TrainTextConfig(learning_rate=0.01, reduce_lr=ReduceLRConfig(patience=1))
    monitored = {0: 0.9, 1: 0.95, 2: 0.97}  # no improvement in epoch 1: halved after it
    # Recorded rates are what the epochs trained at (a resumed fit's ReduceLROnPlateau starts
    # over, so its decisions cannot be replayed from the values): they win.
    assert first_fit_rates({0: 0.01, 1: 0.01, 2: 0.01}, monitored, 3, config) == [0.01] * 3
    # An epoch without a record gets the replayed schedule's rate.
    assert first_fit_rates({1: 0.02}, monitored, 3, config) == [0.01, 0.02, 0.005]


def test_each_epochs_learning_rate_is_recorded_across_attempts(tmp_path: Path) -> None:
    """callbacks.py's EpochRecorder writes {epoch: rate the epoch trained at} to the work dir,
    keeping the rates of earlier attempts, for a refit to replay."""
    import keras

    from seqline.components.train.callbacks import WorkPaths, make_callbacks, read_learning_rates

    class HalveAtEpochEnd(keras.callbacks.Callback):  # stands for ReduceLROnPlateau
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            rate = float(self.model.optimizer.learning_rate.numpy())
            self.model.optimizer.learning_rate = rate / 2

    paths = WorkPaths(str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    x, y = np.zeros((8, 1), "float32"), np.zeros((8, 1), "float32")

    def fit(epochs: int, initial_epoch: int, rate: float) -> None:
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss="mse")
        callbacks, _ = make_callbacks(
            keras, TrainTextConfig(epochs=epochs), paths, paths.history_csv, None, lambda _: None
        )
        # Only the recorder and the halving: the others need validation data.
        model.fit(x, y, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
                  callbacks=[callbacks[0], HalveAtEpochEnd()])  # fmt: skip

    fit(2, 0, 0.5)  # rates a float32 holds exactly
    assert read_learning_rates(paths) == {0: 0.5, 1: 0.25}
    fit(4, 2, 0.125)  # a resumed attempt: epochs 2 and 3
    assert read_learning_rates(paths) == {0: 0.5, 1: 0.25, 2: 0.125, 3: 0.0625}


def test_the_refit_input_spreads_both_splits_over_the_epoch(text_artifacts: TextArtifacts) -> None:
    """refit.refit_dataset draws batches from each split in proportion to its size, so the
    first and the second half of an epoch both hold eval batches (reading the files in turn
    put one split's records last whenever the shuffle buffer is smaller than the data)."""
    from seqline.components.train import training
    from seqline.components.train.refit import refit_dataset
    from seqline.pipeline.artifacts import TransformedExamples, TransformGraph
    from seqline.pipeline.component import retype

    graph = retype(text_artifacts.transform_graph, TransformGraph)
    examples = retype(text_artifacts.transformed_examples, TransformedExamples)
    config = dataclasses.replace(CONFIG, batch_size=4, shuffle_buffer=2)
    task = training.text_task(config, graph.uri, graph.text(), examples)
    sizes = [64, 24]
    dataset = refit_dataset(
        task, config, [examples.split_files("train"), examples.split_files("eval")], sizes, False
    )
    eval_batches = {
        tuple(map(tuple, task.dataset(examples.split_files("eval"), 4)
                  .unbatch().map(lambda f, _l: f["tokens"]).as_numpy_iterator()))
    }  # fmt: skip
    eval_rows = set(next(iter(eval_batches)))
    steps = 22  # one epoch: 88 records / 4
    from_eval = []
    for features, _ in dataset.take(steps):
        rows = {tuple(row) for row in features["tokens"].numpy()}
        from_eval.append(bool(rows & eval_rows) and rows <= eval_rows)
    half = steps // 2
    assert any(from_eval[:half]) and any(from_eval[half:])
    assert 2 <= sum(from_eval) <= 12  # ~24/88 of the batches, not 0 or all
