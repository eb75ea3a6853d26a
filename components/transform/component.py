"""transform: TFT on Beam turns raw text Examples into model-ready token ids.

Input  "examples"             Examples: {uri}/{split}/data-*-of-*.tfrecord.gz, tf.Example with
                              bytes "text" and "label"; properties splits, counts, labels.
Input  "schema"               Schema: {uri}/schema.pbtxt, the schema validate passed the examples
                              against; the raw feature spec (TRAINING environment) is derived
                              from it, and written as the raw schema serving parses with.
                              (Executor tests may omit it: schemas.text's default spec is used.)
Output "transform_graph"      TransformGraph: a TFT output dir (transform_fn/,
                              transformed_metadata/) plus the raw schema in metadata/;
                              properties vocab_size (ids in use incl. padding and OOV),
                              max_tokens, labels, num_oov_buckets.
Output "transformed_examples" TransformedExamples: {uri}/{split}/data-*-of-*.tfrecord.gz with
                              "tokens" int64 [max_tokens] and "label_id" int64 [];
                              properties splits, counts.

Series (the Examples artifact's properties["kind"] == "series", see seqline.schemas.series):
windows are scaled instead (config `series`, series_preprocessing.py, executor in
series_executor.py): "history" float [L * F], "target" float [H * T], "target_offset" and
"target_scale" float [T] (what the export needs to return forecasts in original units); the
text fields are ignored, as the series fields are for text.

The vocabulary is computed on `train_split` only and applied to every split. What the ids mean,
how they match keras.layers.TextVectorization, and how to apply the graph at serving time are
documented in preprocessing.py.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Literal

from seqline.components.transform.text_features import NgramConfig, Truncation, check_truncation
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext, component_dir
from seqline.pipeline.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SCALINGS: tuple[str, ...] = ("minmax", "zscore", "none")


@dataclass(frozen=True)
class SeriesScalingConfig:
    """How series windows are scaled (YAML `transform: {series: {...}}`; ignored for text).

    Attributes:
        scaling: "minmax" (to [0, 1] on the train split, the seed tutorials' MinMaxScaler),
            "zscore" (mean 0, std 1) or "none". Default "minmax".
        log1p: apply log1p to the target columns before scaling (for counts and other
            positive, skewed targets; values must be > -1). Default False.
        per_series: fit the statistics per series_id when the data has several series
            (TFT per-key analyzers); unseen series fall back to the global statistics.
            Default True.
    """

    scaling: Literal["minmax", "zscore", "none"] = "minmax"
    log1p: bool = False
    per_series: bool = True

    def __post_init__(self) -> None:
        if self.scaling not in SCALINGS:
            raise ConfigError(
                f"series.scaling: expected one of {list(SCALINGS)}, got {self.scaling!r}; "
                "use minmax for the seed tutorials' MinMaxScaler"
            )


@dataclass(frozen=True)
class TransformConfig:
    """Config of the transform component (YAML keys under `transform:`).

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
        train_split: the split the vocabulary (text) or the scaling statistics (series) are
            computed on. Default "train".
        series: SeriesScalingConfig, used when the Examples are series windows.
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
    series: SeriesScalingConfig = field(default_factory=SeriesScalingConfig)
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
        if not self.train_split:
            raise ConfigError(
                "train_split: expected the name of a split of the Examples artifact, got ''; "
                "use e.g. 'train'"
            )


def _check_examples(config: TransformConfig, properties: dict[str, Any]) -> tuple[list, list]:
    """Validates the Examples artifact's properties; returns (splits, labels)."""
    splits = list(properties.get("splits") or [])
    labels = list(properties.get("labels") or [])
    if config.train_split not in splits:
        raise ConfigError(
            f"train_split: expected one of the Examples splits {splits}, got "
            f"{config.train_split!r}; set transform.train_split to the split to learn the "
            "vocabulary on"
        )
    if (properties.get("counts") or {}).get(config.train_split, 1) == 0:
        raise DataError(
            f"the Examples split {config.train_split!r} is empty: expected at least one example "
            "to learn a vocabulary from; check the ingest input and its split ratios"
        )
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise DataError(
            f"expected the Examples artifact to list at least 2 distinct label names in "
            f"properties['labels'], got {labels}; re-run ingest_text with labelled data "
            "covering every class"
        )
    return splits, labels


def _schema_feature_spec(ctx: ExecutionContext) -> dict[str, Any] | None:
    """The TRAINING raw feature spec of the input schema (None without a schema input).
    Raises ConfigError when it lacks the text or label feature preprocessing needs."""
    from seqline.schemas.feature_spec import TRAINING, raw_feature_spec
    from seqline.schemas.loading import load_schema
    from seqline.schemas.text import LABEL_KEY, TEXT_KEY

    schema = ctx.inputs.get("schema")
    if schema is None:
        return None
    spec = raw_feature_spec(load_schema(schema.uri), TRAINING)
    missing = [key for key in (TEXT_KEY, LABEL_KEY) if key not in spec]
    if missing:
        raise ConfigError(
            f"transform: expected the schema at {schema.uri} to describe features "
            f"{[TEXT_KEY, LABEL_KEY]} in the TRAINING environment, got {sorted(spec)}; add "
            f"{missing} to the schema (see schemas/text_classification.pbtxt)"
        )
    return spec


def run(ctx: ExecutionContext) -> dict[str, Any]:
    """Analyzes the train split, transforms every split, writes both output artifacts."""
    from seqline.components.transform import beam_pipeline
    from seqline.components.transform.preprocessing import VOCAB_NAME, make_preprocessing_fn
    from seqline.pipeline import filesystem

    config: TransformConfig = ctx.config
    examples = ctx.inputs["examples"]
    if examples.properties.get("kind") == "series":
        from seqline.components.transform.series_executor import run_series

        return run_series(ctx)
    graph = ctx.outputs["transform_graph"]
    transformed = ctx.outputs["transformed_examples"]
    splits, labels = _check_examples(config, examples.properties)
    feature_spec = _schema_feature_spec(ctx)
    for split in splits:
        if not filesystem.exists(filesystem.join(examples.uri, split)):
            raise DataError(
                f"Examples split {split!r} is listed in the artifact's properties but "
                f"{filesystem.join(examples.uri, split)} does not exist; the artifact is "
                "incomplete, re-run ingest_text"
            )

    # TFT's scratch space; under the execution's temp dir when the runner gives one.
    own_temp = not ctx.temp_dir
    temp_root = ctx.temp_dir or tempfile.mkdtemp(prefix="seqline-transform-")
    try:
        ctx.progress(f"analyzing '{config.train_split}' and transforming {len(splits)} split(s)")
        result = beam_pipeline.run_transform_pipeline(
            examples_uri=examples.uri,
            splits=splits,
            train_split=config.train_split,
            preprocessing_fn=make_preprocessing_fn(config, labels),
            transform_graph_uri=graph.uri,
            transformed_uri=transformed.uri,
            tft_temp_dir=filesystem.join(temp_root, "tft"),
            options=ctx.beam_options(),
            feature_spec=feature_spec,
        )
    finally:
        if own_temp:
            shutil.rmtree(temp_root, ignore_errors=True)

    unknown = {split: n for split, n in result.unknown_labels.items() if n}
    if unknown:
        raise DataError(
            f"examples with a label not in the Examples artifact's labels {labels}: {unknown} "
            "(split: count); expected ingest_text to reject unknown labels, re-run it"
        )

    expected_counts = examples.properties.get("counts") or {}
    for split in splits:
        if split in expected_counts and expected_counts[split] != result.counts[split]:
            # Beam counters can be approximate on some runners, so this warns rather than fails.
            logger.warning(
                "transform: split %r: the Examples artifact lists %d examples, %d were written",
                split,
                expected_counts[split],
                result.counts[split],
            )
    ctx.progress(f"wrote {sum(result.counts.values())} transformed examples")
    learned = beam_pipeline.vocabulary_size(graph.uri, VOCAB_NAME)
    vocab_size = 1 + config.num_oov_buckets + learned
    graph.properties.update(
        {
            "vocab_size": vocab_size,
            "max_tokens": config.max_tokens,
            "labels": labels,
            "num_oov_buckets": config.num_oov_buckets,
        }
    )
    if config.ngrams.enabled:  # the model's bag-of-n-grams branch reads these (train)
        from seqline.components.transform.text_features import NGRAM_VOCAB_NAME

        learned_ngrams = beam_pipeline.vocabulary_size(graph.uri, NGRAM_VOCAB_NAME)
        graph.properties.update(
            {"ngram_vocab_size": 1 + learned_ngrams, "max_ngrams": config.ngrams.max_ngrams}
        )
    transformed.properties.update({"splits": splits, "counts": result.counts})
    return {"vocab_size": vocab_size, "splits": result.counts}


COMPONENT = Component(
    name="transform",
    inputs={"examples": ArtifactType.EXAMPLES, "schema": ArtifactType.SCHEMA},
    outputs={
        "transform_graph": ArtifactType.TRANSFORM_GRAPH,
        "transformed_examples": ArtifactType.TRANSFORMED_EXAMPLES,
    },
    config_type=TransformConfig,
    executor=run,
    code_dir=component_dir(__file__),
)
