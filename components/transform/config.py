"""The transform components' configs: one per behaviour (no TensorFlow import).

YAML, text pipeline (transform_text):
    transform: {vocab_size: 10000, max_tokens: 128, frequency_threshold: 1,
                num_oov_buckets: 1, strip_html: true, train_split: train}
YAML, series pipeline (transform_series):
    transform: {scaling: minmax, log1p: false, per_series: true, train_split: train,
                calendar: [hour_of_day, day_of_week]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqline.components.transform.text_features import NgramConfig, Truncation, check_truncation
from seqline.pipeline.errors import ConfigError


def _check_train_split(train_split: str) -> None:
    if not train_split:
        raise ConfigError(
            "train_split: expected the name of a split of the Examples artifact, got ''; "
            "use e.g. 'train'"
        )


SCALINGS: tuple[str, ...] = ("minmax", "zscore", "none")
# Calendar features transform_series can derive from timestamps -> columns per step
# (calendar.py computes them).
CALENDAR_FEATURES: dict[str, int] = {"hour_of_day": 2, "day_of_week": 7}


def calendar_width(calendar: tuple[str, ...] | list[str]) -> int:
    """Columns per step the calendar features make (hour_of_day 2, day_of_week 7)."""
    return sum(CALENDAR_FEATURES[name] for name in calendar)


@dataclass(frozen=True)
class TransformSeriesConfig:
    """Config of transform_series, the series pipeline's transform (YAML keys under
    `transform:`): how windows are scaled.

    Attributes:
        scaling: "minmax" (to [0, 1] on the train split, the seed tutorials' MinMaxScaler),
            "zscore" (mean 0, std 1) or "none". Default "minmax".
        log1p: apply log1p to the target columns before scaling (for counts and other
            positive, skewed targets; values must be > -1). Default False.
        per_series: fit the statistics per series_id when the data has several series
            (TFT per-key analyzers); unseen series fall back to the global statistics.
            Default True.
        train_split: the split the scaling statistics are fitted on. Default "train".
        calendar: calendar features computed inside the transform graph from each step's
            timestamp, for the history and the horizon steps: "hour_of_day" (sin/cos of the
            time of day, 2 columns) and/or "day_of_week" (one-hot Monday..Sunday, 7 columns);
            UTC. Needs a fixed-step frequency (not "MS"). Serving computes them from the
            `window_end` timestamp it is given. Default () (none).
    """

    scaling: Literal["minmax", "zscore", "none"] = "minmax"
    log1p: bool = False
    per_series: bool = True
    train_split: str = "train"
    calendar: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_train_split(self.train_split)
        calendar = tuple(self.calendar)
        unknown = [c for c in calendar if c not in CALENDAR_FEATURES]
        if unknown or len(set(calendar)) != len(calendar):
            raise ConfigError(
                f"calendar: expected distinct names among {list(CALENDAR_FEATURES)}, got "
                f"{list(calendar)}; e.g. calendar: [hour_of_day, day_of_week]"
            )
        if self.scaling not in SCALINGS:
            raise ConfigError(
                f"scaling: expected one of {list(SCALINGS)}, got {self.scaling!r}; "
                "use minmax for the seed tutorials' MinMaxScaler"
            )


@dataclass(frozen=True)
class TransformTextConfig:
    """Config of transform_text, the text pipeline's transform (YAML keys under `transform:`).

    Attributes:
        vocab_size: total number of token ids, padding and OOV buckets included (the meaning
            of TextVectorization's max_tokens); at most vocab_size - 1 - num_oov_buckets tokens
            are learned. Default 10000.
        max_tokens: length T of every "tokens" row; longer texts are truncated, shorter ones
            right-padded with 0. Default 128.
        frequency_threshold: keep only tokens seen at least this many times in the train split.
            Default 1 (keep all, as TextVectorization).
        num_oov_buckets: k >= 1 ids (1..k) shared by out-of-vocabulary tokens, by hash.
            Default 1 (as TextVectorization).
        strip_html: replace HTML tags such as <br /> with a space before stripping punctuation.
            Default True.
        train_split: the split the vocabulary is computed on. Default "train".
        truncation: which end of a text longer than max_tokens is kept: "keep_start" (default)
            or "keep_end". Rows stay right-padded either way (cuDNN's rule).
        ngrams: NgramConfig, the bag-of-n-grams feature (default none; text_features.py).
    """

    vocab_size: int = 10000
    max_tokens: int = 128
    frequency_threshold: int = 1
    num_oov_buckets: int = 1
    strip_html: bool = True
    train_split: str = "train"
    truncation: Truncation = "keep_start"
    ngrams: NgramConfig = field(default_factory=NgramConfig)

    def __post_init__(self) -> None:
        check_truncation(self.truncation)
        if self.num_oov_buckets < 1:
            raise ConfigError(
                f"num_oov_buckets: expected an integer >= 1, got {self.num_oov_buckets}; "
                "out-of-vocabulary tokens need at least one id (use 1, as TextVectorization)"
            )
        minimum = self.num_oov_buckets + 2
        if self.vocab_size < minimum:
            raise ConfigError(
                f"vocab_size: expected an integer >= {minimum} (padding + {self.num_oov_buckets} "
                f"OOV bucket(s) + at least one learned token), got {self.vocab_size}; "
                "raise vocab_size (it counts all ids, as TextVectorization's max_tokens)"
            )
        if self.max_tokens < 1:
            raise ConfigError(
                f"max_tokens: expected an integer >= 1, got {self.max_tokens}; "
                "it is the length every token sequence is padded or truncated to"
            )
        if self.frequency_threshold < 1:
            raise ConfigError(
                f"frequency_threshold: expected an integer >= 1, got "
                f"{self.frequency_threshold}; use 1 to keep every token"
            )
        _check_train_split(self.train_split)
