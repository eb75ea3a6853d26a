"""Pure config of the text transform's extra features (no TensorFlow): the fastText-style bag of
n-grams and which end of a long text is kept. The graph itself is in preprocessing.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from seqline.pipeline.errors import ConfigError

Truncation = Literal["keep_start", "keep_end"]
TRUNCATIONS: tuple[str, ...] = ("keep_start", "keep_end")
NgramWeights = Literal["none", "tfidf", "nb"]
NGRAM_WEIGHTS: tuple[str, ...] = ("none", "tfidf", "nb")
# Name of the n-gram vocabulary in the TFT output: tft_output.vocabulary_by_name(...).
NGRAM_VOCAB_NAME = "ngrams"


@dataclass(frozen=True)
class NgramConfig:
    """The "ngrams" feature: ids of a text's 1..`orders`-grams, built by TFT in the graph (so
    the SavedModel computes them from raw text at serving time), for the model's fastText-style
    bag-of-n-grams branch (train.model.ngram_branch).

    Attributes:
        orders: n of the longest n-gram; 2 = unigrams and bigrams (as TextVectorization's
            ngrams=2). 0 (default) = no "ngrams" feature.
        vocab_size: n-gram ids including 0 (padding): the vocab_size - 1 most frequent
            n-grams of the train split are learned. Default 200,000.
        frequency_threshold: keep n-grams seen at least this many times in the train split
            (default 2: an n-gram seen once cannot generalise and only costs memory).
        max_ngrams: length G of every "ngrams" row (right-padded with 0; truncated on the
            same side as the tokens, transform.truncation). n-grams outside the vocabulary
            are dropped, not given an OOV id. Default 1024.
        weights: "none" (default) or "tfidf": each row then lists its DISTINCT n-gram ids
            (first occurrence order) and a second feature, "ngram_weights" float32
            [max_ngrams], gives each its TF-IDF weight as scikit-learn's
            TfidfVectorizer(sublinear_tf=True) computes it: (1 + log count in the text) x
            (1 + log((1 + n) / (1 + df))), n and df counted on the train split by TFT analyzers,
            the text's weights L2-normalised (over all its known n-grams, before truncation).
            The model's linear branch (train.model.linear_branch) reads them: a logistic
            regression inside the model, computed from raw text by the exported graph.
            "nb" (binary labels only): the TF-IDF weight times the n-gram's Naive Bayes
            log-count ratio r = log((p / |p|_1) / (q / |q|_1)) (Wang & Manning 2012, "NBSVM"),
            p = 1 + the number of train texts of the second label (label id 1) containing it,
            q the same for the first label, |.|_1 summed over the n-gram vocabulary; the row is
            L2-normalised again. r > 0: the n-gram leans to label id 1.
    """

    orders: int = 0
    vocab_size: int = 200_000
    frequency_threshold: int = 2
    max_ngrams: int = 1024
    weights: NgramWeights = "none"

    @property
    def enabled(self) -> bool:
        return self.orders > 0

    def __post_init__(self) -> None:
        checks = (
            ("orders", self.orders, 0, "e.g. 2 for unigrams and bigrams, 0 for none"),
            ("vocab_size", self.vocab_size, 2, "e.g. 200000"),
            ("frequency_threshold", self.frequency_threshold, 1, "use 1 to keep every n-gram"),
            ("max_ngrams", self.max_ngrams, 1, "e.g. 1024"),
        )
        for name, value, minimum, fix in checks:
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(
                    f"ngrams.{name}: expected an integer >= {minimum}, got {value!r}; {fix}"
                )
        if self.weights not in NGRAM_WEIGHTS:
            raise ConfigError(
                f"ngrams.weights: expected one of {list(NGRAM_WEIGHTS)}, got {self.weights!r}; "
                "tfidf adds the TF-IDF weights the model's linear branch needs, nb scales them "
                "by Naive Bayes log-count ratios (binary labels)"
            )

    @property
    def weighted(self) -> bool:
        """The transform also emits "ngram_weights" (TF-IDF, or NB-scaled TF-IDF) beside
        distinct n-gram ids."""
        return self.enabled and self.weights != "none"


def check_nb_labels(weights: str, labels: Sequence[str]) -> None:
    """ConfigError when ngrams.weights "nb" meets other than exactly 2 labels: the log-count
    ratio contrasts one class with the other, and the "ngram_weights" feature holds one
    weight per n-gram, not one per class."""
    if weights == "nb" and len(labels) != 2:
        raise ConfigError(
            f"ngrams.weights: 'nb' expected binary labels, got {len(labels)} labels "
            f"{list(labels)}; use ngrams.weights: tfidf for more than 2 classes"
        )


def check_truncation(value: str) -> None:
    """ConfigError unless `value` is one of TRUNCATIONS."""
    if value not in TRUNCATIONS:
        raise ConfigError(
            f"truncation: expected one of {list(TRUNCATIONS)}, got {value!r}; keep_end keeps "
            "the last max_tokens tokens (reviews often conclude at the end)"
        )
