"""What the text model zoo needs before the model is built, gathered in one place so the
training loop (training.py) stays as it is: pretrained vectors aligned to the vocabulary, class
weights (counting the train split's labels when "balanced"), and the dtype policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqline.components.train.config import BALANCED, TrainTextConfig
from seqline.pipeline.artifacts import TextVocabulary, TransformedExamples


@dataclass(frozen=True)
class TextModelExtras:
    """embedding_matrix: [vocab_size, embedding_dim] or None; class_weight: for Model.fit;
    precision: the dtype policy chosen (precision.PrecisionChoice)."""

    embedding_matrix: np.ndarray | None
    class_weight: dict[int, float] | None
    precision: Any


def text_model_extras(
    config: TrainTextConfig,
    transform_graph_uri: str,
    graph: TextVocabulary,
    examples: TransformedExamples,
) -> TextModelExtras:
    """Reads what config.model asks for."""
    import keras

    from seqline.components.train.class_weights import count_label_ids, resolve_class_weights
    from seqline.components.train.precision import apply_precision
    from seqline.components.train.strategy import num_physical_gpus
    from seqline.components.transform.preprocessing import VOCAB_NAME

    model = config.model
    matrix = None
    if model.pretrained is not None and model.uses_rnn:
        from seqline.components.train.embeddings import pretrained_matrix

        matrix = pretrained_matrix(
            model.pretrained.path,
            transform_graph_uri,
            VOCAB_NAME,
            graph.num_oov_buckets,
            model.embedding_dim,
            model.pretrained.lowercase,
            seed=config.seed,
        )
    counts = None
    if BALANCED in model.class_weights:
        files = examples.split_files(config.train_split)
        counts = count_label_ids(files, len(graph.labels))
    class_weight = resolve_class_weights(model.class_weights, graph.labels, counts)
    precision = apply_precision(keras, model.mixed_precision, num_physical_gpus())
    return TextModelExtras(matrix, class_weight, precision)
