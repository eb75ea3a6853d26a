"""The identity of a train config's pretrained-vectors file, for the cache key of train and
tune (their `source_fingerprint`): replacing the vectors must retrain, though the config only
names the path. No TensorFlow import."""

from __future__ import annotations

from seqline.components.train.config import TrainTextConfig
from seqline.pipeline import data_sources


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
