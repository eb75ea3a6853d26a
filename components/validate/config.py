"""ValidateConfig: which data is checked against what, and which anomalies only warn.
Pure (no TensorFlow, no Beam)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from seqline.pipeline.errors import ConfigError

# The anomaly names validate can raise (TFDV's where they mean the same, seqline's otherwise).
ANOMALY_TYPES: tuple[str, ...] = (
    "SCHEMA_MISSING_COLUMN",
    "SCHEMA_NEW_COLUMN",
    "UNEXPECTED_DATA_TYPE",
    "FEATURE_TYPE_LOW_FRACTION_PRESENT",
    "FEATURE_TYPE_LOW_NUMBER_PRESENT",
    "FEATURE_TYPE_LOW_NUMBER_VALUES",
    "FEATURE_TYPE_HIGH_NUMBER_VALUES",
    "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
    "ENUM_TYPE_INVALID_UTF8",
    "INT_TYPE_SMALL_INT",
    "INT_TYPE_BIG_INT",
    "FLOAT_TYPE_SMALL_FLOAT",
    "FLOAT_TYPE_BIG_FLOAT",
    "FLOAT_TYPE_HAS_NAN",
    "FLOAT_TYPE_HAS_INF",
    "NO_DATA_IN_SPAN",
    "COMPARATOR_L_INFTY_HIGH",
    "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
    "TEXT_EMPTY_FRACTION_HIGH",
    "LABEL_SINGLE_CLASS",
    "SERIES_NON_MONOTONIC_TIMESTAMPS",
    "SERIES_IRREGULAR_TIMESTAMPS",
    "SERIES_FILLED_FRACTION_HIGH",
)


@dataclass(frozen=True)
class ValidateConfig:
    """Config of the validate component (the YAML keys of a validate node).

    Attributes:
        splits: the splits checked against the schema and for drift; () = every split.
        drift: compare each split with the same split of the previous span, using each
            feature's drift_comparator: the statistics of the latest span before this one
            that passed this validate node (a backfill compares with its own predecessor);
            without span patterns, the newest statistics that passed. Default True.
        serving_examples: gzip/plain TFRecord files of serving-time tf.Examples (a glob, e.g.
            request logs); when set, their statistics are checked against the schema's SERVING
            environment and compared with `skew_split` using each skew_comparator. Default None.
        skew_split: the training split serving data is compared with. Default "train".
        warning_types: anomaly names that are recorded but do not stop the pipeline. Default
            ("SCHEMA_NEW_COLUMN",): an extra raw column is ignored by transform. Anomalies of
            features whose lifecycle_stage is ALPHA, PLANNED or DEBUG_ONLY are warnings too.
        max_empty_text_fraction: largest allowed share of texts without any token in a
            natural-language feature, once standardized as transform does (HTML tags and
            punctuation removed: "#@!; !!!" is empty). Default 0.0 (ingest already rejects
            blank texts).
        max_irregular_fraction: largest allowed share of a series dataset's spacings that are
            not a whole multiple of the series' step. Default 0.0.
        max_gap_fraction: largest allowed share of each validated split's grid steps (points
            + filled + missing) that are missing data: steps ingest_series left unfilled (gaps
            longer than max_gap_steps, every gap under gap_policy drop; a gap across a split
            boundary counts in the split after it). A gap of g steps weighs g whatever the
            lookback and horizon; the anomaly names the split and the gap count. Statistics
            without ingest's counts (older runs, serving data) fall back to the examples'
            timestamps, where a gap also removes the windows ending in it, and the anomaly says
            so. Default 0.05: one gap of 10 steps in a series of 100 steps is 10%.
        max_filled_fraction: largest allowed share of each split's grid steps that
            ingest_series filled (gap_policy interpolate / ffill) rather than read: the
            split's filled / (filled + real), for every split ingest made, whatever `splits`
            lists; the anomaly names the split. Per split, so a test split mostly filled is
            blocked even when a large clean train split keeps the total low (no total check
            is needed: it cannot exceed the limit unless a split does). Examples written
            before ingest counted filled steps per split are checked on the totals over all
            splits, and validate says so. The windows the statistics read cannot
            tell a filled step from a real one, so this is the check that sees a `frequency`
            finer than the data. Default 0.25: real data with a few short filled gaps stays
            far below it (3 filled hours in 1,000 is 0.3%), while a frequency 2x finer than
            the data fills 1 step in 2 (0.5) and hourly rows declared 15min fill 3 in 4
            (0.75). Text datasets have no grid and are not checked.
    """

    splits: tuple[str, ...] = ()
    drift: bool = True
    serving_examples: str | None = None
    skew_split: str = "train"
    warning_types: tuple[str, ...] = ("SCHEMA_NEW_COLUMN",)
    max_empty_text_fraction: float = 0.0
    max_irregular_fraction: float = 0.0
    max_gap_fraction: float = 0.05
    max_filled_fraction: float = 0.25

    def __post_init__(self) -> None:
        unknown = sorted(set(self.warning_types) - set(ANOMALY_TYPES))
        if unknown:
            raise ConfigError(
                f"warning_types: expected anomaly names among {list(ANOMALY_TYPES)}, got "
                f"{unknown}; copy the names from a validate report"
            )
        fractions = ("max_empty_text_fraction", "max_irregular_fraction", "max_gap_fraction",
                     "max_filled_fraction")  # fmt: skip
        for name in fractions:
            value = getattr(self, name)
            if math.isnan(value) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}: expected a fraction in [0, 1], got {value}")
        if self.serving_examples is not None and not self.serving_examples.strip():
            raise ConfigError(
                "serving_examples: expected a glob of TFRecord files, got an empty string; "
                "remove the key when there is no serving data"
            )


def check_split_names(config: ValidateConfig, known: Sequence[str], source: str) -> None:
    """Raises ConfigError when `splits`, or `skew_split` while serving_examples is set (it is
    read only then), names a split not in `known`. `source` says where `known` comes from,
    e.g. "ingest_text makes (per its config)" before anything runs, "the span's statistics
    hold" when validate runs. The error names the typo, the known splits and the closest
    match."""
    wrong = [("splits", name) for name in config.splits if name not in known]
    if config.serving_examples and config.skew_split not in known:
        wrong.append(("skew_split", config.skew_split))
    if not wrong:
        return
    field, name = wrong[0]
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    others = (
        f" (also unknown: {', '.join(f'validate.{f} {n!r}' for f, n in wrong[1:])})"
        if len(wrong) > 1
        else ""
    )
    fix = (
        "list existing splits, or leave splits empty to validate all"
        if field == "splits"
        else "set skew_split to the training split serving data should resemble"
    )
    raise ConfigError(
        f"validate.{field}: expected a split {source}, one of {list(known)}, got "
        f"{name!r}{others}; {hint}{fix}"
    )
