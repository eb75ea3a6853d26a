"""The text classifier's loss: cross-entropy of its head, with optional label smoothing.

The sigmoid head uses BinaryCrossentropy(label_smoothing) directly. Keras has no label
smoothing for sparse integer labels, so the softmax head with smoothing one-hot encodes the
labels inside the loss (the dataset keeps int64 [B] labels and the accuracy metric stays
sparse). Class weights are not here: Model.fit's class_weight applies them (training.py).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import tensorflow as tf


@functools.cache
def _smoothed_sparse_class(km: ModuleType) -> Any:
    register = (
        km.saving.register_keras_serializable(package="seqline")
        if hasattr(km, "saving") and hasattr(km.saving, "register_keras_serializable")
        else (lambda cls: cls)
    )

    @register
    class SparseSmoothedCrossentropy(km.losses.Loss):  # type: ignore[name-defined]
        """Categorical cross-entropy of one_hot(y_true) smoothed by label_smoothing.

        y_true int [B] (or [B, 1]) class ids, y_pred float [B, num_classes] probabilities.
        """

        def __init__(
            self, num_classes: int, label_smoothing: float, name: str = "smoothed_xent", **kw: Any
        ) -> None:
            super().__init__(name=name, **kw)
            self.num_classes = num_classes
            self.label_smoothing = label_smoothing

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ids = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
            one_hot = tf.one_hot(ids, self.num_classes, dtype=y_pred.dtype)
            return km.losses.categorical_crossentropy(
                one_hot, y_pred, label_smoothing=self.label_smoothing
            )

        def get_config(self) -> dict[str, Any]:
            return {
                "name": self.name,
                "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing,
            }

    return SparseSmoothedCrossentropy


def classifier_loss(km: ModuleType, head: str, num_classes: int, label_smoothing: float) -> Any:
    """The loss for a "sigmoid" (labels float [B, 1]) or "softmax" (labels int [B]) head."""
    if head == "sigmoid":
        return km.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    if label_smoothing:
        return _smoothed_sparse_class(km)(num_classes, label_smoothing)
    return km.losses.SparseCategoricalCrossentropy()
