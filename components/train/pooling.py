"""Mask-aware layers of the text model zoo: pooling over time, attention pooling, a Conv1D
front end that keeps the padding mask, and the linear branch's weighted n-gram logits.

Every layer here gives the same outputs for a sequence whatever padding follows it (the mask
marks right padding, id 0), which is what lets training trim a batch's padding and serving
pad to max_tokens without changing a prediction (tests assert it).

The classes are built per Keras module (`zoo_layers(keras)` or `zoo_layers(tf_keras)`) because
the same builder makes a Keras 3 model and, for multi-worker training, a tf_keras one (see
models.py). Their arithmetic is plain TensorFlow ops, valid in both. Importing this module
builds and registers the Keras 3 classes (package "seqline"; when `keras` is importable), so
keras/model.keras loads with `keras.models.load_model` after `import
seqline.components.train.pooling`, in any process. Only the train component's heavy paths
import this module (never the CLI at start-up), since it imports TensorFlow and Keras.
"""

from __future__ import annotations

import functools
from types import ModuleType, SimpleNamespace
from typing import Any

import tensorflow as tf

POOLING_MODES: tuple[str, ...] = ("max", "mean")


def _valid_steps(x: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
    """bool [B, T]: the unmasked steps of x [B, T, D] (all of them without a mask)."""
    if mask is None:
        return tf.ones(tf.shape(x)[:2], dtype=tf.bool)
    return tf.cast(mask, tf.bool)


def masked_pool(x: tf.Tensor, mask: tf.Tensor | None, mode: str) -> tf.Tensor:
    """Max or mean of x [B, T, D] over its unmasked steps -> [B, D]; 0 for a row with none."""
    x = tf.convert_to_tensor(x)
    valid = _valid_steps(x, mask)
    weights = tf.cast(valid, x.dtype)[..., None]
    count = tf.reduce_sum(weights, axis=1)  # [B, 1]
    if mode == "mean":
        return tf.reduce_sum(x * weights, axis=1) / tf.maximum(count, tf.ones_like(count))
    if mode == "max":
        lowest = tf.fill(tf.shape(x), tf.constant(x.dtype.min, dtype=x.dtype))
        pooled = tf.reduce_max(tf.where(valid[..., None], x, lowest), axis=1)
        return tf.where(count > 0, pooled, tf.zeros_like(pooled))
    raise ValueError(f"pooling mode: expected one of {POOLING_MODES}, got {mode!r}")


def attention_pool(x: tf.Tensor, scores: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
    """Softmax over the unmasked steps of scores [B, T, 1], weighted sum of x [B, T, D] -> [B, D];
    0 for a row with no unmasked step."""
    x = tf.convert_to_tensor(x)
    valid = _valid_steps(x, mask)[..., None]
    scores = tf.cast(scores, tf.float32)
    scores = tf.where(valid, scores, tf.fill(tf.shape(scores), -1e9))
    weights = tf.nn.softmax(scores, axis=1) * tf.cast(valid, tf.float32)
    return tf.reduce_sum(tf.cast(weights, x.dtype) * x, axis=1)


@functools.cache
def zoo_layers(km: ModuleType) -> SimpleNamespace:
    """The layer classes for Keras module `km`: MaskedPooling, AttentionPooling, MaskedConv1D,
    NgramLogits."""
    register = (
        km.saving.register_keras_serializable(package="seqline")
        if hasattr(km, "saving") and hasattr(km.saving, "register_keras_serializable")
        else (lambda cls: cls)
    )

    @register
    class MaskedPooling(km.layers.Layer):  # type: ignore[name-defined]
        """[B, T, D] with a padding mask -> [B, D]: "max" or "mean" over the unmasked steps."""

        def __init__(self, mode: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if mode not in POOLING_MODES:
                raise ValueError(f"mode: expected one of {POOLING_MODES}, got {mode!r}")
            self.mode = mode
            self.supports_masking = True

        def call(self, inputs: Any, mask: Any = None) -> Any:
            return masked_pool(inputs, mask, self.mode)

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None  # one vector per sequence: nothing left to mask

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (input_shape[0], input_shape[-1])

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "mode": self.mode}

    @register
    class AttentionPooling(km.layers.Layer):  # type: ignore[name-defined]
        """[B, T, D] -> [B, D]: sum of the steps weighted by softmax(v . tanh(W h_t + b)) over
        the unmasked steps (additive attention with one learned query)."""

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.supports_masking = True
            self.project = km.layers.Dense(units, activation="tanh", name="project")
            self.score = km.layers.Dense(1, use_bias=False, name="score")

        def build(self, input_shape: Any) -> None:
            self.project.build(input_shape)
            self.score.build((*tuple(input_shape)[:-1], self.units))
            super().build(input_shape)

        def call(self, inputs: Any, mask: Any = None) -> Any:
            return attention_pool(inputs, self.score(self.project(inputs)), mask)

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (input_shape[0], input_shape[-1])

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    @register
    class MaskedConv1D(km.layers.Layer):  # type: ignore[name-defined]
        """Conv1D ("same" padding, ReLU) that zeroes padded steps first and passes the mask on,
        so the RNN after it still skips padding and cuDNN still sees right-padded masks."""

        def __init__(self, filters: int, kernel_size: int, l2: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.filters, self.kernel_size, self.l2 = filters, kernel_size, l2
            self.supports_masking = True
            self.conv = km.layers.Conv1D(
                filters,
                kernel_size,
                padding="same",
                activation="relu",
                kernel_regularizer=km.regularizers.L2(l2) if l2 else None,
                name="conv1d",
            )

        def build(self, input_shape: Any) -> None:
            self.conv.build(input_shape)
            super().build(input_shape)

        def call(self, inputs: Any, mask: Any = None) -> Any:
            valid = tf.cast(_valid_steps(inputs, mask), inputs.dtype)[..., None]
            # Zeroed padding looks exactly like the conv's own "same" zero padding, so a step's
            # output does not depend on how many padded steps follow the sequence.
            return self.conv(inputs * valid) * tf.cast(valid, self.compute_dtype)

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return mask

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (*tuple(input_shape)[:-1], self.filters)

        def get_config(self) -> dict[str, Any]:
            return {
                **super().get_config(),
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "l2": self.l2,
            }

    @register
    class NgramLogits(km.layers.Layer):  # type: ignore[name-defined]
        """Sparse logistic regression logits: ids int64 [B, G] (0 = padding) and their weights
        float [B, G] (the transform's TF-IDF, 0 on padding) -> float32 [B, units]:
        sum_j weights_j * kernel[ids_j] + bias. Kernel [vocab_size, units] and bias start at
        zero; padding weighs 0, so trailing padding changes nothing."""

        def __init__(self, vocab_size: int, units: int, l2: float = 0.0, **kwargs: Any) -> None:
            # float32 even under mixed precision: these are logits, summed over many terms.
            kwargs["dtype"] = "float32"
            super().__init__(**kwargs)
            self.vocab_size, self.units, self.l2 = vocab_size, units, l2

        def build(self, input_shape: Any) -> None:
            self.kernel = self.add_weight(
                name="kernel",
                shape=(self.vocab_size, self.units),
                initializer="zeros",
                regularizer=km.regularizers.L2(self.l2) if self.l2 else None,
            )
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            self.built = True

        def call(self, inputs: Any) -> Any:
            ids, weights = inputs
            rows = tf.gather(tf.convert_to_tensor(self.kernel), ids)  # [B, G, units]
            weights = tf.cast(weights, rows.dtype)[..., None]
            return tf.reduce_sum(rows * weights, axis=1) + self.bias

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (input_shape[0][0], self.units)

        def get_config(self) -> dict[str, Any]:
            config = {**super().get_config(), "vocab_size": self.vocab_size}
            return {**config, "units": self.units, "l2": self.l2}

    return SimpleNamespace(
        MaskedPooling=MaskedPooling,
        AttentionPooling=AttentionPooling,
        MaskedConv1D=MaskedConv1D,
        NgramLogits=NgramLogits,
    )


def _register_keras_layers() -> None:
    """Builds (and so registers) the Keras 3 zoo classes at import: `keras.models.load_model`
    finds a registered class only if it exists before the load, and a process that only loads
    a saved model never calls zoo_layers itself. A TensorFlow-only process has nothing to
    register."""
    try:
        import keras  # noqa: PLC0415
    except ImportError:
        return
    zoo_layers(keras)


_register_keras_layers()
