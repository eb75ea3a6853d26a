"""TransformGraph: the TFT graph and the facts training and export need from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from seqline.pipeline.artifacts.base import Artifact, str_list
from seqline.pipeline.artifacts.examples import WindowSpec
from seqline.pipeline.errors import DataError


@dataclass(frozen=True)
class TextVocabulary:
    """What a text TransformGraph fixed: vocab_size ids (padding and OOV buckets included),
    token rows of max_tokens, and the label names in label-id order."""

    vocab_size: int
    max_tokens: int
    labels: tuple[str, ...]
    num_oov_buckets: int = 1
    ngram_vocab_size: int = 0  # 0: the transform made no "ngrams" feature
    ngram_weights: str = "none"  # "tfidf"/"nb": it made "ngram_weights" too (transform.ngrams)


@dataclass(frozen=True)
class SeriesScaling:
    """What a series TransformGraph fixed: the windows it scales and how, and the calendar
    features it derives from the timestamps (names, and how many columns they make)."""

    windows: WindowSpec
    scaling: str
    log1p: bool
    per_series: bool
    calendar: tuple[str, ...] = ()
    calendar_features: int = 0

    @property
    def history_features(self) -> int:
        """Columns per history step the model sees: the windows' F plus the calendar's."""
        return self.windows.num_features + self.calendar_features

    @property
    def future_features(self) -> int:
        """Columns per horizon step the model sees (0: no "future" input): the future
        covariates, then the calendar's."""
        return len(self.windows.future_covariates) + self.calendar_features


@dataclass
class TransformGraph(Artifact):
    """A TensorFlow Transform graph.

    File structure:
        {uri}/transform_fn/            the TFT SavedModel (tft_beam.WriteTransformFn)
        {uri}/transformed_metadata/    the transformed feature spec
        {uri}/metadata/                the raw schema (written separately: WriteTransformFn
                                       does not, and TFTransformOutput needs it)

    Properties, text (kind "text"): vocab_size, max_tokens, labels, num_oov_buckets, and
    with n-grams ngram_vocab_size, max_ngrams, ngram_weights ("none" | "tfidf" | "nb").
    Properties, series (kind "series"): the WindowSpec (lookback, horizon, targets, covariates,
    series_ids, stride, frequency, future_covariates) plus scaling, log1p, per_series,
    calendar, calendar_features.
    Read them through `text()` or `series()`, which check them once.
    """

    TYPE_NAME: ClassVar[str] = "TransformGraph"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("kind", "vocab_size", "max_tokens", "scaling")

    @property
    def kind(self) -> str:
        return str(self.properties.get("kind") or "text")

    def _expect(self, kind: str) -> None:
        if self.kind != kind:
            raise DataError(
                f"TransformGraph at {self.uri}: expected a {kind} graph, got a {self.kind} one; "
                f"wire the {kind} pipeline's transform into this node"
            )

    def text(self) -> TextVocabulary:
        self._expect("text")
        self.require("vocab_size", "max_tokens", "labels")
        p = self.properties
        return TextVocabulary(
            int(p["vocab_size"]),
            int(p["max_tokens"]),
            tuple(str_list(p["labels"])),
            int(p.get("num_oov_buckets") or 1),
            int(p.get("ngram_vocab_size") or 0),
            str(p.get("ngram_weights") or "none"),
        )

    def series(self) -> SeriesScaling:
        self._expect("series")
        self.require("scaling")
        p = self.properties
        return SeriesScaling(
            WindowSpec.from_artifact(self),
            str(p["scaling"]),
            bool(p.get("log1p", False)),
            bool(p.get("per_series", False)),
            tuple(str_list(p.get("calendar"))),
            int(p.get("calendar_features") or 0),
        )
