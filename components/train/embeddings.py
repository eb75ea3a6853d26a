"""Pretrained word vectors (a user's word2vec or GloVe text file) aligned to the TFT vocabulary.

File format: one "word v1 v2 ... vD" line per word, separated by single spaces or tabs (GloVe's
.txt and word2vec's text format, whose first "count dim" line is recognised and skipped); plain
or gzip (.gz). Only the words of the vocabulary are kept, so memory is vocab_size x D whatever
the file's size. Lines with the wrong number of values are an error naming the line.

Alignment follows the transform's id layout (preprocessing.py): id 0 padding (zeros), ids
1..k the OOV buckets and id k + 1 + i the i-th vocabulary token. Tokens not in the file and
the OOV ids start from small random vectors (seeded), as an untrained Embedding would.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from seqline.components.train.pretrained_source import vector_fields
from seqline.pipeline.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignedVectors:
    """The embedding matrix [vocab_size, dim] and how much of the vocabulary the file covered."""

    matrix: np.ndarray
    found: int
    vocabulary: int

    @property
    def coverage(self) -> float:
        return self.found / self.vocabulary if self.vocabulary else 0.0


def _lines(path: str) -> Iterator[str]:
    import tensorflow as tf  # gfile: local paths, gs://, s3://

    if not tf.io.gfile.exists(path):
        raise ConfigError(
            f"model.pretrained.path: expected a word2vec/GloVe text file, got {path!r}, which "
            "does not exist; give an absolute path (in a YAML config, a relative path is taken "
            "from the config file's folder)"
        )
    with tf.io.gfile.GFile(path, "rb") as raw:
        if path.endswith(".gz"):
            with gzip.open(raw, "rt", encoding="utf-8", errors="replace") as text:
                yield from text
        else:
            for line in raw:
                yield line.decode("utf-8", errors="replace")


def read_vectors(
    path: str, wanted: set[str], lowercase: bool = True
) -> tuple[dict[str, np.ndarray], int]:
    """{word: float32 [D]} for the words of `wanted` found in the file, and D.

    With `lowercase`, file words are lowercased before lookup (the first vector of a word
    wins). Raises ConfigError when the file has no vector line, DataError on a malformed line.
    """
    vectors: dict[str, np.ndarray] = {}
    dim = 0
    for number, line in enumerate(_lines(path), start=1):
        parts = vector_fields(number, line)
        if parts is None:
            continue  # the "<count> <dim>" header or a blank line
        if not dim:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise DataError(
                f"{path} line {number}: expected a word and {dim} numbers, got "
                f"{len(parts) - 1} values; is this a word2vec/GloVe text file?"
            )
        word = parts[0].lower() if lowercase else parts[0]
        if word in wanted and word not in vectors:
            try:
                vectors[word] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError as e:
                raise DataError(
                    f"{path} line {number}: expected numbers after the word ({e})"
                ) from e
    if not dim:
        raise ConfigError(
            f"model.pretrained.path: expected 'word v1 ... vD' lines in {path}, found none"
        )
    return vectors, dim


def align_vectors(
    vocabulary: Sequence[str],
    vectors: dict[str, np.ndarray],
    dim: int,
    num_oov_buckets: int,
    seed: int = 0,
) -> AlignedVectors:
    """The [1 + k + len(vocabulary), dim] matrix in the transform's id layout."""
    rng = np.random.default_rng(seed)
    offset = 1 + num_oov_buckets
    matrix = rng.uniform(-0.05, 0.05, size=(offset + len(vocabulary), dim)).astype(np.float32)
    matrix[0] = 0.0  # padding
    found = 0
    for i, token in enumerate(vocabulary):
        vector = vectors.get(token)
        if vector is not None:
            matrix[offset + i] = vector
            found += 1
    return AlignedVectors(matrix, found, len(vocabulary))


def pretrained_matrix(
    path: str,
    transform_graph_uri: str,
    vocab_name: str,
    num_oov_buckets: int,
    embedding_dim: int,
    lowercase: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Reads `path`, aligns it to the TFT vocabulary `vocab_name`; logs the coverage.

    Raises ConfigError when the file's dimension is not `embedding_dim`.
    """
    import tensorflow_transform as tft

    raw = tft.TFTransformOutput(transform_graph_uri).vocabulary_by_name(vocab_name)
    vocabulary = [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t for t in raw]
    vectors, dim = read_vectors(path, set(vocabulary), lowercase)
    if dim != embedding_dim:
        raise ConfigError(
            f"model.embedding_dim: expected the pretrained vectors' dimension {dim} ({path}), "
            f"got {embedding_dim}; set model.embedding_dim: {dim}"
        )
    aligned = align_vectors(vocabulary, vectors, dim, num_oov_buckets, seed)
    logger.info(
        "pretrained embeddings: %d of %d vocabulary tokens found in %s (%.1f%%)",
        aligned.found,
        aligned.vocabulary,
        path,
        100 * aligned.coverage,
    )
    return aligned.matrix
