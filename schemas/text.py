"""The raw text-classification example contract shared by ingest, transform, train and serving.

A raw example is a tf.Example with two bytes features:
    text  -- UTF-8 document text, exactly one value
    label -- the label as its string name (e.g. "pos"), exactly one value; absent at serving time

The contract itself is the curated schema text_classification.pbtxt next to this file; the
default feature spec below is derived from it (seqline.schemas.feature_spec), so a pipeline
without its own schema and one validated against that file parse examples identically.
"""

from __future__ import annotations

from typing import Any

TEXT_KEY = "text"
LABEL_KEY = "label"

# Transformed (model-ready) feature keys written by the transform component.
TOKENS_KEY = "tokens"  # int64 [max_tokens], right-padded with 0
LABEL_ID_KEY = "label_id"  # int64 [], index into the configured label list
NGRAMS_KEY = "ngrams"  # int64 [max_ngrams], n-gram ids right-padded with 0 (transform.ngrams)
# float32 [max_ngrams], the TF-IDF (ngrams.weights tfidf) or NB-scaled TF-IDF (nb) weight of each
# "ngrams" id, 0 on padding
NGRAM_WEIGHTS_KEY = "ngram_weights"


# How transform standardizes text before splitting it on whitespace (RE2 syntax, read by
# TensorFlow's regex ops in transform and by pyarrow's in statistics, so both agree on which
# texts hold no token): lowercase, HTML tags replaced by a space, then this punctuation deleted.
# Keras 3.15 TextVectorization's DEFAULT punctuation class; ",-\." is a range: ",", "-", ".".
PUNCTUATION_PATTERN = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
# An HTML tag: "<", an optional "/", a letter, then anything but angle brackets up to ">".
HTML_TAG_PATTERN = r"</?[A-Za-z][^<>]*>"


# The curated schema of the built-in text examples (`builtin:text_classification` in configs).
SCHEMA_NAME = "text_classification"


def raw_feature_spec(with_label: bool = True) -> dict[str, Any]:
    """tf.io feature spec of a raw example: {text: FixedLenFeature([], string), label: ...},
    from the curated text_classification.pbtxt (TRAINING environment; SERVING, i.e. without the
    label, when `with_label` is False)."""
    from seqline.schemas import feature_spec  # noqa: PLC0415
    from seqline.schemas.loading import load_schema  # noqa: PLC0415

    schema = load_schema(f"builtin:{SCHEMA_NAME}")
    environment = feature_spec.TRAINING if with_label else feature_spec.SERVING
    return feature_spec.raw_feature_spec(schema, environment)
