"""Scoring raw eval examples with the exported SavedModel, exactly as serving would.

The candidate is loaded with tf.saved_model.load and its "serving_default" signature is called on
batches of serialized raw tf.Example: the TFT graph, tokenizer and model inside the export all
run, so a mismatch between training and serving shows up here and not in production.
Imported only while evaluate executes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from seqline.components.evaluate.splits import label_ids_for
from seqline.pipeline.errors import DataError
from seqline.schemas.text import LABEL_KEY, TEXT_KEY

SIGNATURE = "serving_default"
INPUT_KEY = "examples"
BATCH_SIZE = 1024


@dataclass(frozen=True)
class Predictions:
    """One model's outputs on the eval examples, aligned with ScoredSet.label_ids.

    Attributes:
        probabilities: float32 [n, k], the model's "probabilities" output.
        class_ids: int64 [n], the model's "class_ids" output (the decision serving returns).
    """

    probabilities: np.ndarray
    class_ids: np.ndarray


@dataclass(frozen=True)
class ScoredSet:
    """Everything one pass over the eval split yields.

    Attributes:
        label_ids: int64 [n], true class index into the candidate's labels.
        predictions: model key (e.g. "candidate", "baseline_model") -> Predictions.
        features: slice feature name -> object [n] of str ("" where the example lacks it).
        lengths: int64 [n], words (whitespace-separated tokens) per text.
        inference_seconds: model key -> seconds spent inside its signature calls (wall time;
            concurrent calls overlap).
    """

    label_ids: np.ndarray
    predictions: Mapping[str, Predictions]
    features: Mapping[str, np.ndarray]
    lengths: np.ndarray
    inference_seconds: Mapping[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.label_ids)


def load_serving_model(saved_model_dir: str) -> tuple[object, Callable[..., dict[str, tf.Tensor]]]:
    """Loads the SavedModel at `saved_model_dir`: (loaded object, its "serving_default"
    function). Keep the loaded object referenced while calling the function, since the
    function's variables live on it.

    Raises:
        DataError: if there is no SavedModel there or it lacks the signature.
    """
    if not tf.saved_model.contains_saved_model(saved_model_dir):
        raise DataError(
            f"expected a SavedModel at {saved_model_dir}, found none; the Model artifact is "
            "incomplete (re-run train)"
        )
    loaded = tf.saved_model.load(saved_model_dir)
    if SIGNATURE not in loaded.signatures:
        raise DataError(
            f"expected a '{SIGNATURE}' signature in {saved_model_dir}, got "
            f"{sorted(loaded.signatures)}; the model was not exported with the seqline contract"
        )
    return loaded, loaded.signatures[SIGNATURE]


def _eval_batches(files: Sequence[str], batch_size: int, slice_features: Sequence[str]) -> Any:
    """(serialized [b], label [b], word counts [b], {feature: [b]}) batches in file order; one
    parse per batch for labels, lengths and slice features (missing values parse as b"")."""
    spec = {
        LABEL_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b""),
        TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }
    for name in slice_features:
        spec[name] = tf.io.FixedLenFeature([], tf.string, default_value=b"")

    def parse(serialized: tf.Tensor) -> tuple[Any, ...]:
        parsed = tf.io.parse_example(serialized, spec)
        lengths = tf.strings.split(parsed[TEXT_KEY]).row_lengths()
        extra = {name: parsed[name] for name in slice_features}
        return serialized, parsed[LABEL_KEY], lengths, extra

    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(batch_size)
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)


def score_models(
    saved_model_dirs: Mapping[str, str],
    files: Sequence[str],
    label_names: Sequence[str],
    batch_size: int = BATCH_SIZE,
    slice_features: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    functions: Mapping[str, Callable[..., Mapping[str, Any]]] | None = None,
    split: str = "",
) -> ScoredSet:
    """Runs every model's serving signature over the examples in `files`, in one pass.

    Each batch of serialized raw tf.Example is read and parsed once and fed to every model, so
    the candidate, the baseline model and the naive baseline are judged on exactly the same
    examples.

    Args:
        saved_model_dirs: model key -> `saved_model/` directory (e.g. {"candidate": ...,
            "baseline_model": ...}); every model must have len(label_names) classes.
        files: gzip TFRecord files of serialized raw tf.Example with "text" and "label".
        label_names: the candidate's label list; "label" strings map to their index in it.
        batch_size: examples per signature call (default 1024).
        slice_features: bytes features to collect for slicing.
        progress: called with a short message every few batches.
        functions: more models as plain functions with the serving contract (model key ->
            f(examples=serialized [b]) -> {"probabilities": [b, k], "class_ids": [b]}, values
            with .numpy()), e.g. the linear baseline; scored on the same batches.
        split: the name of the split `files` hold (the config's eval_split), for errors.

    Raises:
        DataError: unknown or missing labels (all named, with counts), outputs that do not
            match the contract (missing key, wrong number of classes), a slice feature that is
            not a single bytes value, or an empty split.
    """
    models: dict[str, tuple[object, Callable[..., Any]]] = {
        key: load_serving_model(path) for key, path in saved_model_dirs.items()
    }
    models.update({key: (None, function) for key, function in (functions or {}).items()})
    num_classes = len(label_names)
    # Several models run concurrently on each batch: TensorFlow releases the GIL, and one
    # small RNN step does not keep every core busy on its own.
    pool = ThreadPoolExecutor(max_workers=len(models)) if len(models) > 1 else None

    def call(function: Callable[..., Any], serialized: tf.Tensor) -> tuple[Any, float]:
        t0 = time.perf_counter()
        outputs = function(**{INPUT_KEY: serialized})
        return outputs, time.perf_counter() - t0

    inference_seconds = dict.fromkeys(models, 0.0)
    labels, lengths = [], []
    columns: dict[str, list[np.ndarray]] = {name: [] for name in slice_features}
    outputs_by_model: dict[str, tuple[list, list]] = {key: ([], []) for key in models}
    seen = 0
    try:
        for serialized, label, length, extra in _eval_batches(files, batch_size, slice_features):
            if pool is None:
                results = {k: call(fn, serialized) for k, (_m, fn) in models.items()}
            else:
                futures = {k: pool.submit(call, fn, serialized) for k, (_m, fn) in models.items()}
                results = {k: future.result() for k, future in futures.items()}
            for key, (outputs, seconds) in results.items():
                inference_seconds[key] += seconds
                probabilities = _checked_probabilities(outputs, num_classes, label_names, key)
                outputs_by_model[key][0].append(probabilities)
                outputs_by_model[key][1].append(outputs["class_ids"].numpy().reshape(-1))
            labels.append(label.numpy())
            lengths.append(length.numpy())
            for name in slice_features:
                columns[name].append(extra[name].numpy())
            seen += len(labels[-1])
            if progress is not None and len(labels) % 10 == 0:
                progress(f"scored {seen} examples with {len(models)} model(s)")
    except tf.errors.InvalidArgumentError as exc:
        raise DataError(
            f"cannot parse the eval examples for slice features {list(slice_features)}: "
            f"{exc.message.splitlines()[0]}; slice features must be single-valued bytes "
            "features of the raw tf.Example"
        ) from exc
    finally:
        if pool is not None:
            pool.shutdown()
    if seen == 0:
        where = f"the {split!r} split (evaluate.eval_split)" if split else "the scored split"
        raise DataError(
            f"expected examples of {where} in {list(files)}, got none; re-run the ingest "
            "node, or set evaluate.eval_split to a split that has examples"
        )
    return ScoredSet(
        label_ids=label_ids_for(np.concatenate(labels), label_names, where="eval split"),
        predictions={
            key: Predictions(
                probabilities=np.concatenate(probs).astype(np.float32),
                class_ids=np.concatenate(ids).astype(np.int64),
            )
            for key, (probs, ids) in outputs_by_model.items()
        },
        features={
            name: np.array(
                [v.decode("utf-8", errors="replace") for v in np.concatenate(parts)], dtype=object
            )
            for name, parts in columns.items()
        },
        lengths=np.concatenate(lengths).astype(np.int64),
        inference_seconds=inference_seconds,
    )


def _checked_probabilities(
    outputs: Mapping[str, tf.Tensor], num_classes: int, label_names: Sequence[str], key: str
) -> np.ndarray:
    missing = {"probabilities", "class_ids"} - set(outputs)
    if missing:
        raise DataError(
            f"{key}: expected the '{SIGNATURE}' signature to return 'probabilities' and "
            f"'class_ids', got outputs {sorted(outputs)}; re-export the model with the "
            "seqline serving contract"
        )
    probabilities = outputs["probabilities"].numpy()
    if probabilities.ndim != 2 or probabilities.shape[1] != num_classes:
        raise DataError(
            f"{key}: expected probabilities of shape [batch, {num_classes}] (one column per "
            f"label {list(label_names)}), got {list(probabilities.shape)}; the model's labels "
            "property does not match its output layer"
        )
    return probabilities
