"""The text classifier, built from a ModelConfig: the model zoo.

    tokens -> Embedding(mask_zero; optionally pretrained, frozen or not) -> [SpatialDropout1D]
           -> [MaskedConv1D front end] -> num_layers recurrent layers (optionally
              Bidirectional) -> pooling (last state | max | mean | attention, masked)  --+
    ngrams -> Embedding(mask_zero) -> masked mean (fastText bag of n-grams)  ---------------+
                                                                -> Concatenate -> Dropout -> head
    ngrams, ngram_weights (TF-IDF) -> NgramLogits: sum_j w_j * W[ngram_j] + b  (linear branch)

Either branch may be alone: ngram_branch "none" (default: the RNN alone, as before) or "only"
(no RNN). The linear branch (model.linear_branch) is a logistic regression on the transform's
TF-IDF weighted n-grams: "beside" adds its logits to the head's (wide & deep; the head's kernel
then starts at zero, so the untrained model IS the linear one and the deep part learns what it
misses), "only" makes it the whole model. Every layer respects the right-padding mask, so
cuDNN's rules (cudnn.py) still hold and a prediction does not depend on how much padding follows
a text.

Pure builder: it takes the Keras module as an argument so the same code builds a Keras 3 model
(the default and everywhere seqline can) or a tf_keras model (multi-worker training, see
strategy.py). Both get identical layers in identical order, which is what lets the chief copy
tf_keras-trained weights into a Keras 3 model for export (transplant_weights).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Literal

import keras
import numpy as np

from seqline.components.train.config import ModelConfig
from seqline.components.train.losses import classifier_loss
from seqline.components.train.pooling import zoo_layers
from seqline.components.train.weight_averaging import adam
from seqline.pipeline.errors import ConfigError
from seqline.schemas.text import NGRAM_WEIGHTS_KEY, NGRAMS_KEY, TOKENS_KEY

HeadKind = Literal["sigmoid", "softmax"]

_LAYER_CLASS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def resolve_head(head: str, num_classes: int) -> HeadKind:
    """The head actually used: "auto" is sigmoid for 2 classes and softmax otherwise.

    Raises:
        ConfigError: fewer than 2 classes, or "sigmoid" with more than 2.
    """
    if num_classes < 2:
        raise ConfigError(
            f"labels: expected at least 2 classes, got {num_classes}; check the transform "
            "component's labels"
        )
    if head == "auto":
        return "sigmoid" if num_classes == 2 else "softmax"
    if head == "sigmoid" and num_classes != 2:
        raise ConfigError(
            f"model.head: sigmoid needs exactly 2 labels, got {num_classes}; use softmax or auto"
        )
    return head  # type: ignore[return-value]


def _recurrent_layer(
    km: ModuleType, config: ModelConfig, return_sequences: bool, index: int
) -> Any:
    kwargs: dict[str, Any] = {
        "units": config.units,
        "activation": config.activation,
        "use_bias": config.use_bias,
        "recurrent_dropout": config.recurrent_dropout,
        "unroll": config.unroll,
        "return_sequences": return_sequences,
    }
    if config.l2:
        kwargs["kernel_regularizer"] = km.regularizers.L2(config.l2)
    if config.layer != "simple_rnn":
        kwargs["recurrent_activation"] = config.recurrent_activation
    if config.layer == "gru":
        kwargs["reset_after"] = config.reset_after
    layer_class = getattr(km.layers, _LAYER_CLASS[config.layer])
    if config.bidirectional:
        return km.layers.Bidirectional(layer_class(**kwargs), name=f"bi_{config.layer}_{index}")
    return layer_class(name=f"{config.layer}_{index}", **kwargs)


def model_inputs(config: ModelConfig) -> tuple[str, ...]:
    """The transformed features the model takes: "tokens" and/or "ngrams" (and
    "ngram_weights" with the linear branch)."""
    names: tuple[str, ...] = (TOKENS_KEY,) if config.uses_rnn else ()
    if config.ngram_branch != "none" or config.linear_branch != "none":
        names += (NGRAMS_KEY,)
    return names + ((NGRAM_WEIGHTS_KEY,) if config.linear_branch != "none" else ())


def build_text_model(
    config: ModelConfig,
    vocab_size: int,
    max_tokens: int,
    num_classes: int,
    keras_module: ModuleType = keras,
    ngram_vocab_size: int = 0,
    embedding_matrix: np.ndarray | None = None,
    ngram_weights: str = "none",
) -> Any:
    """Builds (does not compile) the classifier (see the module docstring for the layers).

    Args:
        config: the architecture.
        vocab_size: token ids in use, including 0 (padding) and the OOV buckets.
        max_tokens: sequence length of the "tokens" feature.
        num_classes: number of labels (>= 2).
        keras_module: `keras` (Keras 3, default) or `tf_keras`.
        ngram_vocab_size: n-gram ids in use including 0 (padding), from the TransformGraph's
            properties; required (>= 2) when config.ngram_branch is not "none".
        embedding_matrix: float [vocab_size, embedding_dim] initial token embeddings
            (embeddings.py), or None for random ones.
        ngram_weights: the TransformGraph's "ngram_weights" property; must be "tfidf" or "nb"
            when config.linear_branch is not "none".

    Returns:
        A functional model taking {"tokens": int64 [batch, T]} and/or {"ngrams": int64
        [batch, G]} and/or {"ngram_weights": float32 [batch, G]} (model_inputs) and returning
        float32 [batch, 1] (sigmoid head: P(label 1)) or [batch, num_classes] (softmax head).
    """
    if vocab_size < 2 or max_tokens < 1:
        raise ConfigError(
            f"transform graph: expected vocab_size >= 2 and max_tokens >= 1, got "
            f"vocab_size={vocab_size}, max_tokens={max_tokens}; rerun the transform component"
        )
    uses_ngrams = config.ngram_branch != "none" or config.linear_branch != "none"
    if uses_ngrams and ngram_vocab_size < 2:
        branch = "ngram_branch" if config.ngram_branch != "none" else "linear_branch"
        raise ConfigError(
            f"model.{branch}: {getattr(config, branch)!r} needs the transform's n-gram ids, got "
            "a transform graph without them; set transform.ngrams (e.g. ngrams: {orders: 2}) "
            f"or model.{branch}: none"
        )
    if config.linear_branch != "none" and ngram_weights not in ("tfidf", "nb"):
        raise ConfigError(
            f"model.linear_branch: {config.linear_branch!r} needs the transform's TF-IDF (or NB) "
            f"n-gram weights, got a transform graph with ngrams.weights {ngram_weights!r}; set "
            "transform.ngrams.weights: tfidf, or model.linear_branch: none"
        )
    head = resolve_head(config.head, num_classes)
    km = keras_module
    zoo = zoo_layers(km)
    inputs: dict[str, Any] = {}
    features: list[Any] = []
    if config.uses_rnn:
        features.append(_recurrent_branch(km, zoo, config, vocab_size, embedding_matrix, inputs))
    if uses_ngrams:
        # Sequence length None: batches are trimmed to their longest row (data.py).
        inputs[NGRAMS_KEY] = km.Input(shape=(None,), dtype="int64", name=NGRAMS_KEY)
    if config.ngram_branch != "none":
        bag = km.layers.Embedding(
            ngram_vocab_size, config.ngram_dim, mask_zero=True, name="ngram_embedding"
        )(inputs[NGRAMS_KEY])
        features.append(zoo.MaskedPooling("mean", name="ngram_mean")(bag))
    units, activation = (1, "sigmoid") if head == "sigmoid" else (num_classes, "softmax")
    linear = None
    if config.linear_branch != "none":
        weights = km.Input(shape=(None,), dtype="float32", name=NGRAM_WEIGHTS_KEY)
        inputs[NGRAM_WEIGHTS_KEY] = weights
        linear = zoo.NgramLogits(ngram_vocab_size, units, config.linear_l2, name="linear")(
            [inputs[NGRAMS_KEY], weights]
        )
    deep = None
    if features:
        x = features[0] if len(features) == 1 else km.layers.Concatenate(name="features")(features)
        x = km.layers.Dropout(config.dropout, name="dropout")(x)
        deep = km.layers.Dense(
            units,
            # Beside the linear branch the head outputs logits, from zero: the untrained model
            # is then exactly the linear one.
            activation=activation if linear is None else None,
            kernel_initializer="glorot_uniform" if linear is None else "zeros",
            kernel_regularizer=km.regularizers.L2(config.l2) if config.l2 else None,
            # float32 even under a mixed_float16 policy: probabilities and the loss need the range.
            dtype="float32",
            name="head",
        )(x)
    if linear is None:
        outputs = deep
    else:
        logits = linear if deep is None else km.layers.Add(name="logits")([deep, linear])
        outputs = km.layers.Activation(activation, dtype="float32", name="probabilities")(logits)
    model = km.Model(inputs=inputs, outputs=outputs, name="text_classifier")
    if embedding_matrix is not None:
        model.get_layer("embedding").set_weights([np.asarray(embedding_matrix, np.float32)])
    return model


def _recurrent_branch(
    km: ModuleType,
    zoo: Any,
    config: ModelConfig,
    vocab_size: int,
    embedding_matrix: np.ndarray | None,
    inputs: dict[str, Any],
) -> Any:
    """tokens -> embedding -> [spatial dropout] -> [conv] -> RNN stack -> pooling: [B, D]."""
    # Sequence length None: training batches are trimmed to their longest sequence
    # (data.trim_right_padding); serving passes the full max_tokens.
    tokens = km.Input(shape=(None,), dtype="int64", name=TOKENS_KEY)
    inputs[TOKENS_KEY] = tokens
    if embedding_matrix is not None and tuple(embedding_matrix.shape) != (
        vocab_size,
        config.embedding_dim,
    ):
        raise ConfigError(
            f"model.pretrained: expected vectors of shape ({vocab_size}, "
            f"{config.embedding_dim}) (vocab_size, embedding_dim), got "
            f"{tuple(embedding_matrix.shape)}; set model.embedding_dim to the file's dimension"
        )
    trainable = config.pretrained.trainable if config.pretrained is not None else True
    x = km.layers.Embedding(
        vocab_size,
        config.embedding_dim,
        mask_zero=config.mask_zero,
        trainable=trainable,
        name="embedding",
    )(tokens)
    if config.spatial_dropout:
        x = km.layers.SpatialDropout1D(config.spatial_dropout, name="spatial_dropout")(x)
    if config.conv_filters:
        x = zoo.MaskedConv1D(config.conv_filters, config.conv_kernel_size, config.l2, name="conv")(
            x
        )
    pooled = config.pooling != "last"
    for i in range(config.num_layers):
        last = i == config.num_layers - 1
        x = _recurrent_layer(km, config, return_sequences=pooled or not last, index=i)(x)
    if config.pooling in ("max", "mean"):
        x = zoo.MaskedPooling(config.pooling, name=f"{config.pooling}_pool")(x)
    elif config.pooling == "attention":
        x = zoo.AttentionPooling(config.units, name="attention_pool")(x)
    return x


def compile_text_model(
    model: Any,
    head: HeadKind,
    learning_rate: float,
    keras_module: Any,
    label_smoothing: float = 0.0,
    ema: float = 0.0,
) -> None:
    """Compiles with Adam (averaging the weights with momentum `ema` when > 0, see
    weight_averaging.py), the head's cross-entropy (label_smoothing, see losses.py) and
    accuracy.

    Labels are float32 [batch, 1] for the sigmoid head and int64 [batch] for softmax
    (data.make_dataset produces them so).
    """
    km = keras_module
    num_classes = int(model.outputs[0].shape[-1]) if head == "softmax" else 2
    loss = classifier_loss(km, head, num_classes, label_smoothing)
    if head == "sigmoid":
        metrics = [km.metrics.BinaryAccuracy(name="accuracy")]
    else:
        metrics = [km.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=adam(km, learning_rate, ema), loss=loss, metrics=metrics)


def transplant_weights(source: Any, target: Any) -> None:
    """Copies weights between two models built by build_text_model from the same arguments
    (e.g. tf_keras -> Keras 3). Raises ValueError if their weight shapes differ."""
    src = source.get_weights()
    dst = target.get_weights()
    if [w.shape for w in src] != [w.shape for w in dst]:
        raise ValueError(
            f"cannot transplant weights: shapes {[w.shape for w in src]} vs "
            f"{[w.shape for w in dst]}; were both models built from the same config?"
        )
    target.set_weights(src)
