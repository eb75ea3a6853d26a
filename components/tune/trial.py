"""One trial: train_text's model with the trial's values, fitted on the train split and scored
on the eval split (never test), on one device. Imports TensorFlow and Keras 3."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from seqline.components.train import data, training, weight_averaging
from seqline.components.train.config import TrainTextConfig
from seqline.components.train.overrides import apply_overrides
from seqline.pipeline.artifacts import TextVocabulary, TransformedExamples


def fit_trial(
    base: TrainTextConfig,
    values: Mapping[str, Any],
    epochs: int,
    objective: str,
    transform_graph_uri: str,
    graph: TextVocabulary,
    examples: TransformedExamples,
) -> list[float]:
    """Fits `base` with `values` applied for up to `epochs` epochs; returns `objective` (e.g.
    "val_accuracy") per epoch run.

    The model, datasets, class weights and learning rate are train_text's (training.text_task);
    early stopping uses base.early_stopping's patience on `objective`, and a NaN loss ends
    the trial (its later epochs are not run). Nothing is written to disk.
    """
    import keras

    config = dataclasses.replace(apply_overrides(base, values, "trial"), epochs=epochs)
    train_split, eval_split = training.resolve_splits(config, examples.splits)
    if "test" in (train_split, eval_split):  # the config check refuses it; never score test
        raise ValueError(f"a trial may not use the test split, got {train_split}/{eval_split}")
    # A fresh graph per trial: no layer names or memory carried over from the previous one.
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    task = training.text_task(config, transform_graph_uri, graph, examples)
    train_count = examples.counts.get(train_split)
    if train_count is None and config.steps_per_epoch is None:
        train_count = data.count_records(examples.split_files(train_split))
    # The same inputs as train's: shuffled, and without the autotuning thread whose teardown
    # stalls Keras's validation reset every epoch and the train iterator's end.
    train_ds, eval_ds = training.fit_inputs(task, config, examples, (train_split, eval_split))
    # With the count known, validate on exactly one pass (Keras warns when a dataset of unknown
    # length runs out), as training.train_model does.
    eval_count = examples.counts.get(eval_split)
    validation_steps = training.steps_for(eval_count, config.batch_size) if eval_count else None
    model = task.build(keras)
    task.compile(model, keras)
    stopping = config.early_stopping
    history = model.fit(
        train_ds,
        validation_data=eval_ds,
        validation_steps=validation_steps,
        epochs=epochs,
        steps_per_epoch=config.steps_per_epoch
        or training.steps_for(train_count, config.batch_size),
        class_weight=task.class_weight,
        callbacks=[
            # With train.ema the objective is the averaged weights' figure, as in train.
            *weight_averaging.validation_callbacks(keras, config.ema),
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.EarlyStopping(
                monitor=objective, patience=stopping.patience, min_delta=stopping.min_delta
            ),
        ],
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=0,
    )
    return objective_per_epoch(history.history, objective)


def objective_per_epoch(history: Mapping[str, list[float]], objective: str) -> list[float]:
    """`objective` per epoch from a Keras History dict, NaN for an epoch whose training loss
    was NaN/inf: a diverged model still gets a finite val_accuracy (the share of the label it
    always answers), which once made a diverged trial look like a finished one."""
    losses = history.get("loss", [])
    return [
        float(v) if i >= len(losses) or math.isfinite(float(losses[i])) else math.nan
        for i, v in enumerate(history.get(objective, []))
    ]
