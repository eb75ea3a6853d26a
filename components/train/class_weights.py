"""Class weights for Model.fit from ModelConfig.class_weights (pure, plus one counting pass).

{}                     no weights (default)
{"pos": 2.0}           label name -> weight; labels not listed weigh 1.0
{"balanced": 1}        n / (k * count_c) from the train split's label counts (as
                       scikit-learn's class_weight="balanced"): rare classes weigh more
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from seqline.components.train.config import BALANCED
from seqline.pipeline.errors import ConfigError, DataError


def resolve_class_weights(
    spec: Mapping[str, float], labels: Sequence[str], counts: Sequence[int] | None = None
) -> dict[int, float] | None:
    """class id -> weight for Model.fit(class_weight=...), or None when `spec` is empty.

    Args:
        spec: ModelConfig.class_weights.
        labels: label names, index = class id.
        counts: examples per class id in the train split (needed for "balanced" only).

    Raises:
        ConfigError: a label that is not one of `labels`.
        DataError: "balanced" with a class absent from the train split.
    """
    if not spec:
        return None
    if BALANCED in spec:
        if counts is None:
            raise ValueError("balanced class weights need the train split's label counts")
        missing = [labels[i] for i, n in enumerate(counts) if n <= 0]
        if missing:
            raise DataError(
                f"class_weights: balanced expected every label in the train split, got no "
                f"examples of {missing}; give explicit weights or fix the split"
            )
        total, k = sum(counts), len(labels)
        return {i: total / (k * n) for i, n in enumerate(counts)}
    unknown = sorted(set(spec) - set(labels))
    if unknown:
        raise ConfigError(
            f"class_weights: expected label names among {list(labels)} (or balanced), got "
            f"{unknown}; name the classes as ingest_text's labels do"
        )
    return {i: float(spec.get(label, 1.0)) for i, label in enumerate(labels)}


def count_label_ids(files: Sequence[str], num_classes: int) -> list[int]:
    """Examples per class id in TransformedExamples files (one pass over "label_id" only)."""
    import tensorflow as tf

    from seqline.schemas.text import LABEL_ID_KEY

    spec = {LABEL_ID_KEY: tf.io.FixedLenFeature([], tf.int64)}
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(4096)
    counts = tf.zeros([num_classes], tf.int64)
    for batch in dataset:
        ids = tf.io.parse_example(batch, spec)[LABEL_ID_KEY]
        counts += tf.math.bincount(
            ids, minlength=num_classes, maxlength=num_classes, dtype=tf.int64
        )
    return [int(n) for n in counts.numpy()]
