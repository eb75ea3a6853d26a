"""The raw text-classification example contract shared by ingest, transform, train and serving.

A raw example is a tf.Example with two bytes features:
    text  -- UTF-8 document text, exactly one value
    label -- the label as its string name (e.g. "pos"), exactly one value; absent at serving time

The contract itself is the curated schema text_classification.pbtxt next to this file; the
default feature spec below is derived from it (seqline.schemas.feature_spec), so a pipeline
without its own schema and one validated against that file parse examples identically.
"""

from __future__ import annotations

import re
import string
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

# The same standardization in pure Python, for code that must group texts exactly as the
# transform graph will see them without TensorFlow (ingest_text's split key): tf.strings.lower
# lowercases ASCII letters only ("É" stays "É"), and tf.strings.split without a separator
# splits on ASCII whitespace only (a no-break space stays inside its token). Python's re reads
# both patterns as RE2 does (one code point per character; `[^<>]` also matches a newline).
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_HTML_TAG = re.compile(HTML_TAG_PATTERN)
_PUNCTUATION = re.compile(PUNCTUATION_PATTERN)
_ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")


def standardized_tokens(text: str, strip_html: bool = True) -> list[str]:
    """The tokens transform's `standardize` + whitespace split make of `text` (tested against
    the TensorFlow ops): ASCII letters lowercased, HTML tags replaced by a space (when
    `strip_html`), PUNCTUATION_PATTERN deleted, split on runs of ASCII whitespace."""
    text = text.translate(_ASCII_LOWER)
    if strip_html:
        text = _HTML_TAG.sub(" ", text)
    text = _PUNCTUATION.sub("", text)
    return [token for token in _ASCII_WHITESPACE.split(text) if token]


def standardized_text(text: str) -> str:
    """`text` as the model reads it (transform's default standardization, HTML stripped), its
    tokens joined by one space: texts that differ only in case, punctuation, HTML tags or
    whitespace give the same string. ingest_text hashes it to pick the split."""
    return " ".join(standardized_tokens(text))


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
