"""The identity of a train config's pretrained-vectors file, for the cache key of train and
tune (their `source_fingerprint`): replacing the vectors must retrain, though the config only
names the path; and its dimension, for their pre-run checks. No TensorFlow import."""

from __future__ import annotations

import gzip

from seqline.components.train.config import TrainTextConfig
from seqline.pipeline import data_sources
from seqline.pipeline.errors import ConfigError

# Lines read looking for the first vector line (past a header and blank lines).
DIMENSION_LINES = 100


def pretrained_fingerprint(config: TrainTextConfig) -> str:
    """data_sources.files_fingerprint of model.pretrained.path; "" without pretrained vectors,
    "missing" when the file is absent (the pre-run check reports it)."""
    pretrained = config.model.pretrained
    if pretrained is None or not pretrained.path:
        return ""
    try:
        return data_sources.files_fingerprint([pretrained.path])
    except OSError:
        return "missing"


def local_dimension(path: str) -> int | None:
    """D of a local word2vec/GloVe text file (`word v1 ... vD` lines, optionally gzip, after an
    optional "<count> <dim>" header), from its first vector line; None when none of its first
    DIMENSION_LINES lines is one (train's reader then says what is wrong with the file)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if number > DIMENSION_LINES:
                return None
            parts = vector_fields(number, line)
            if parts is not None:
                return len(parts) - 1
    return None


def vector_fields(number: int, line: str) -> list[str] | None:
    """[word, v1, ..., vD] of line `number` (from 1) of a word2vec/GloVe text file; None for
    the optional "<count> <dim>" header on line 1 and for blank lines. Shared by the pre-run
    dimension check and train's reader (embeddings.read_vectors)."""
    parts = line.rstrip("\n\r").replace("\t", " ").split(" ")
    if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
        return None  # word2vec header
    if len(parts) < 2 or not parts[0]:
        return None
    return parts


def check_dimension(config: TrainTextConfig, path_name: str = "model.embedding_dim") -> None:
    """ConfigError when a local pretrained-vectors file's dimension is not the config's
    model.embedding_dim, before anything runs (train would find it after ingest and
    transform). Remote files are left to train. `path_name` names the field in the error."""
    pretrained = config.model.pretrained
    if pretrained is None or not pretrained.path or "://" in pretrained.path:
        return
    try:
        dim = local_dimension(pretrained.path)
    except OSError:
        return  # missing or unreadable: train's check says which
    if dim is not None and dim != config.model.embedding_dim:
        raise ConfigError(
            f"{path_name}: expected the pretrained vectors' dimension {dim} "
            f"({pretrained.path}), got {config.model.embedding_dim}; set "
            f"model.embedding_dim: {dim}, or use vectors of that size"
        )
