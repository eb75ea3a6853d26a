"""transform_text: TFT on Beam turns raw text Examples into model-ready token ids.

Inputs:
    examples (Examples): tf.Example with bytes "text" and "label"; properties splits, counts,
        labels.
    schema (Schema, optional): the schema validate passed the examples against; the raw
        feature spec (TRAINING environment) is derived from it and written as the raw schema
        serving parses with. Wiring it also makes transform run only after validation passed.
        Unwired: schemas.text's default spec.
Outputs:
    transform_graph (TransformGraph, kind "text"): properties vocab_size (ids in use incl.
        padding and OOV), max_tokens, labels, num_oov_buckets.
    transformed_examples (TransformedExamples): "tokens" int64 [max_tokens], "label_id" int64
        []; properties splits, counts.

The vocabulary is computed on `train_split` only and applied to every split. What the ids mean,
how they match keras.layers.TextVectorization, and how to apply the graph at serving time are
documented in preprocessing.py; the Beam pipeline shared with transform_series is in
beam_pipeline.py.
"""

from __future__ import annotations

import logging
from typing import Any

from seqline.components.transform.config import TransformTextConfig
from seqline.pipeline.artifacts import Examples, Schema, TransformedExamples, TransformGraph
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError, DataError
from seqline.storage import filesystem

logger = logging.getLogger(__name__)


def check_examples(config: TransformTextConfig, examples: Examples) -> tuple[list[str], list[str]]:
    """Validates the Examples against the config; returns (splits, labels)."""
    splits, labels = examples.splits, examples.labels
    if config.train_split not in splits:
        raise ConfigError(
            f"train_split: expected one of the Examples splits {splits}, got "
            f"{config.train_split!r}; set transform.train_split to the split to learn the "
            "vocabulary on"
        )
    if examples.counts.get(config.train_split, 1) == 0:
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


def schema_feature_spec(schema: Schema | None) -> dict[str, Any] | None:
    """The TRAINING raw feature spec of `schema` (None without one). Raises ConfigError when
    it lacks the text or label feature preprocessing needs."""
    from seqline.schemas.feature_spec import TRAINING, raw_feature_spec  # noqa: PLC0415
    from seqline.schemas.loading import load_schema  # noqa: PLC0415
    from seqline.schemas.text import LABEL_KEY, TEXT_KEY  # noqa: PLC0415

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


def run(
    ctx: ExecutionContext,
    config: TransformTextConfig,
    examples: Examples,
    schema: Schema | None,
    transform_graph: Out[TransformGraph],
    transformed_examples: Out[TransformedExamples],
) -> dict[str, Any]:
    """Analyzes the train split, transforms every split, writes both output artifacts;
    returns {"vocab_size", "splits"}."""
    from seqline.components.transform import beam_pipeline  # noqa: PLC0415
    from seqline.components.transform.preprocessing import (  # noqa: PLC0415
        VOCAB_NAME,
        make_preprocessing_fn,
    )
    from seqline.pipeline import beam_progress  # noqa: PLC0415

    splits, labels = check_examples(config, examples)
    feature_spec = schema_feature_spec(schema)
    examples.all_split_files()  # every listed split exists, or a DataError says which not
    ctx.progress(f"analyzing '{config.train_split}' and transforming {len(splits)} split(s)")
    with beam_progress.reporting(ctx.progress) as progress_key:
        result = beam_pipeline.run_transform_pipeline(
            examples_uri=examples.uri,
            splits=splits,
            train_split=config.train_split,
            preprocessing_fn=make_preprocessing_fn(config, labels),
            transform_graph_uri=transform_graph.uri,
            transformed_uri=transformed_examples.uri,
            tft_temp_dir=filesystem.join(ctx.temp_dir, "tft"),
            options=ctx.beam_options(),
            feature_spec=feature_spec,
            progress_key=progress_key,
        )
    unknown = {split: n for split, n in result.unknown_labels.items() if n}
    if unknown:
        raise DataError(
            f"examples with a label not in the Examples artifact's labels {labels}: {unknown} "
            "(split: count); expected ingest_text to reject unknown labels, re-run it"
        )
    expected_counts = examples.counts
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
    learned = beam_pipeline.vocabulary_size(transform_graph.uri, VOCAB_NAME)
    if learned == 1 and beam_pipeline.vocabulary_is_empty(transform_graph.uri, VOCAB_NAME):
        # Every training text is empty once standardized: a model would see padding only and
        # could still be "blessed" on label frequencies. Stop here instead.
        raise DataError(
            f"transform: expected a token vocabulary learned from the {config.train_split!r} "
            "split, "
            "got none: every text there is empty after standardization (lowercased, HTML tags "
            "and punctuation removed). Check the ingest source's text column; validate's "
            "max_empty_text_fraction catches this earlier unless it was raised"
        )
    vocab_size = 1 + config.num_oov_buckets + learned
    transform_graph.properties.update(
        {
            "kind": "text",
            "vocab_size": vocab_size,
            "max_tokens": config.max_tokens,
            "labels": labels,
            "num_oov_buckets": config.num_oov_buckets,
        }
    )
    if config.ngrams.enabled:  # the model's bag-of-n-grams branch reads these (train)
        from seqline.components.transform.text_features import NGRAM_VOCAB_NAME

        learned_ngrams = beam_pipeline.vocabulary_size(transform_graph.uri, NGRAM_VOCAB_NAME)
        transform_graph.properties.update(
            {
                "ngram_vocab_size": 1 + learned_ngrams,
                "max_ngrams": config.ngrams.max_ngrams,
                "ngram_weights": config.ngrams.weights,  # "tfidf": the linear branch's input
            }
        )
    transformed_examples.properties.update({"splits": splits, "counts": result.counts})
    return {"vocab_size": vocab_size, "splits": result.counts}


COMPONENT = component(run, name="transform_text")
