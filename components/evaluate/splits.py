"""Reading the labels of an Examples split (its files come from examples.split_files):
tf.Examples with bytes features "text" and "label". Imported only while evaluate executes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from seqline.pipeline.errors import DataError
from seqline.schemas.text import LABEL_KEY


def label_batches(files: Sequence[str], batch_size: int = 4096) -> Any:
    """A tf.data.Dataset of (serialized tf.string [b], label tf.string [b]) batches, in file
    order. A missing label parses as b"" so the caller can report it instead of crashing."""
    spec = {LABEL_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b"")}
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(batch_size)
    return dataset.map(
        lambda serialized: (serialized, tf.io.parse_example(serialized, spec)[LABEL_KEY]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).prefetch(2)


def count_labels(files: Sequence[str]) -> dict[str, int]:
    """label name -> number of examples in `files` (b"" counts examples without a label)."""
    counts: Counter[str] = Counter()
    for _serialized, labels in label_batches(files):
        # One np.unique per batch, not a Python step per record.
        values, numbers = np.unique(labels.numpy(), return_counts=True)
        for value, number in zip(values, numbers, strict=True):
            counts[value.decode("utf-8", errors="replace")] += int(number)
    return dict(counts)


def label_ids_for(labels: np.ndarray, label_names: Sequence[str], where: str) -> np.ndarray:
    """Maps label strings (bytes [n]) to int64 indices into `label_names`.

    Raises:
        DataError: naming every label that is empty or not in `label_names`, with counts.
    """
    index = {name.encode("utf-8"): i for i, name in enumerate(label_names)}
    values, inverse, numbers = np.unique(labels, return_inverse=True, return_counts=True)
    unknown = {
        v.decode("utf-8", errors="replace"): int(n)
        for v, n in zip(values, numbers, strict=True)
        if v not in index
    }
    if unknown:
        missing = unknown.pop("", None)
        problems = []
        if unknown:
            problems.append(f"labels the model does not know {unknown} (label: count)")
        if missing:
            problems.append(f"{missing} example(s) without a label")
        raise DataError(
            f"{where}: expected every label to be one of the model's labels "
            f"{list(label_names)}, got {' and '.join(problems)}; evaluate on data with the "
            "label set the model was trained on, or retrain with these labels"
        )
    return np.array([index[v] for v in values], dtype=np.int64)[inverse].reshape(-1)
